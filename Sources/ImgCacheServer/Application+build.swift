import CacheStore
import Foundation
import Hummingbird
import ImgCacheKit
import Logging
import Metrics
import NIOCore
import Prometheus
import Synchronization

/// Settings for `imgcache serve`.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var cacheDirectory = "cache"
    public var variants = Variant.defaults
    /// The logger's level: requests are logged at .info, so .warning silences them.
    public var logLevel: Logger.Level = .info
    /// A connection idle this long is closed (slow clients cannot hold one forever).
    public var idleTimeout: TimeAmount = .seconds(30)

    public init() {}
}

/// Prometheus metrics, through swift-metrics with a factory of our own (no global bootstrap,
/// so tests can build many applications in one process).
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    private let bytesServed: Metrics.Counter
    private let hits: Metrics.Counter
    private let misses: Metrics.Counter
    /// Per (route, status) counters, made once each.
    private let requests = Mutex<[String: Metrics.Counter]>([:])

    public init() {
        factory = PrometheusMetricsFactory(registry: registry)
        bytesServed = Counter(label: "imgcache_http_bytes_served_total", factory: factory)
        hits = Counter(label: "imgcache_cache_hits_total", factory: factory)
        misses = Counter(label: "imgcache_cache_misses_total", factory: factory)
    }

    func request(route: String, status: Int) {
        let key = "\(route) \(status)"
        let counter = requests.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: "imgcache_http_requests_total", dimensions: [("route", route), ("status", String(status))],
                                  factory: factory)
            counters[key] = counter
            return counter
        }
        counter.increment()
    }

    func served(bytes: Int) { bytesServed.increment(by: bytes) }

    func lookup(hit: Bool) { (hit ? hits : misses).increment() }

    func update(_ totals: CacheService.Totals) {
        Gauge(label: "imgcache_objects", factory: factory).record(totals.objects)
        Gauge(label: "imgcache_thumbnails", factory: factory).record(totals.thumbnails)
        Gauge(label: "imgcache_cache_bytes", factory: factory).record(totals.objectBytes + totals.thumbnailBytes)
        Gauge(label: "imgcache_last_sync_timestamp_seconds", factory: factory)
            .record(totals.lastSync?.timeIntervalSince1970 ?? 0)
    }
}

/// Counts requests by route and status.
struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let route = Self.route(request.uri.path)
        do {
            let response = try await next(request, context)
            metrics.request(route: route, status: response.status.code)
            return response
        } catch let error as HTTPError {
            metrics.request(route: route, status: error.status.code)
            throw error
        }
    }

    /// A small fixed set of route names (never the raw path: unbounded label values).
    static func route(_ path: String) -> String {
        if path.hasPrefix("/t/") { return "thumbnail" }
        if path.hasPrefix("/o/") { return "original" }
        switch path {
        case "/v1/image": return "image"
        case "/v1/manifest": return "manifest"
        case "/healthz": return "healthz"
        case "/metrics": return "metrics"
        default: return "other"
        }
    }
}

/// Builds the router: a function tests call in-process.
public func buildRouter(service: CacheService, metrics: ServerMetrics, accessLog: AccessLog? = nil) -> Router<BasicRequestContext> {
    let router = Router()
    // One line per request at .info; the logger's level (--log-level) decides whether it shows.
    router.add(middleware: LogRequestsMiddleware(.info))
    router.add(middleware: MetricsMiddleware(metrics: metrics))
    let files = FileIO()

    @Sendable func serve(_ file: CacheService.ServedFile?, request: Request, context: BasicRequestContext) async throws -> Response {
        guard let file else {
            metrics.lookup(hit: false)
            throw HTTPError(.notFound)
        }
        metrics.lookup(hit: true)
        accessLog?.record(file.digest)
        var headers: HTTPFields = [
            .eTag: file.etag,
            .cacheControl: "public, max-age=31536000, immutable",
            .contentType: file.contentType,
        ]
        if let match = request.headers[.ifNoneMatch],
           match.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == file.etag || $0 == "*" }) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentLength] = String(file.bytes)
        if request.method == .head { return Response(status: .ok, headers: headers) }
        metrics.served(bytes: file.bytes)
        if let bytes = service.smallFileBytes(file) {
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: bytes))
        }
        // Larger files are streamed from disk, never read whole; once opened, a prune's unlink
        // cannot cut the stream short.
        do {
            let body = try await files.loadFile(path: file.path, context: context)
            return Response(status: .ok, headers: headers, body: body)
        } catch {
            service.forget(file)
            throw HTTPError(.notFound)
        }
    }

    for method in [HTTPRequest.Method.get, .head] {
        router.on("/t/:digest/:file", method: method) { request, context in
            let digest = try context.parameters.require("digest")
            let file = try context.parameters.require("file")
            return try await serve(try service.thumbnail(digest: digest[...], file: file[...]), request: request, context: context)
        }
        router.on("/o/:file", method: method) { request, context in
            let file = try context.parameters.require("file")
            return try await serve(try service.original(file: file[...]), request: request, context: context)
        }
    }

    router.get("/v1/image") { request, _ -> Response in
        guard let url = request.uri.queryParameters.get("url"), !url.isEmpty else {
            return jsonError(.badRequest, "the url parameter is required")
        }
        let variant = request.uri.queryParameters.get("variant") ?? service.variants.first?.name ?? "thumb"
        guard service.variants.contains(where: { $0.name == variant }) else {
            return jsonError(.badRequest, "unknown variant '\(variant)'; configured: \(service.variants.map(\.name).joined(separator: ", "))")
        }
        if let location = try service.immutableURL(for: url, variant: variant) {
            metrics.lookup(hit: true)
            return Response(status: .found, headers: [.location: location, .cacheControl: "no-cache"])
        }
        metrics.lookup(hit: false)
        if request.uri.queryParameters.get("fallback") == "origin", SeedURL.isFetchable(url) {
            return Response(status: .found, headers: [.location: url, .cacheControl: "no-cache"])
        }
        return jsonError(.notFound, "\(url) is not cached for variant \(variant)")
    }

    router.get("/v1/manifest") { request, _ -> Response in
        let manifest = try service.manifest(seed: request.uri.queryParameters.get("seed"))
        return Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-cache"],
                        body: .init(byteBuffer: ByteBuffer(data: manifest.json())))
    }

    router.get("/healthz") { _, _ -> Response in
        Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
    }

    router.get("/metrics") { _, _ -> Response in
        metrics.update(try service.totals())
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                        body: .init(byteBuffer: ByteBuffer(bytes: metrics.registry.emitToBuffer())))
    }
    return router
}

/// A JSON error body.
func jsonError(_ status: HTTPResponse.Status, _ message: String) -> Response {
    let body = (try? JSONEncoder().encode(["error": message])) ?? Data()
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: body)))
}

/// Whether a URL may be used as a redirect target: absolute http or https only.
enum SeedURL {
    static func isFetchable(_ url: String) -> Bool {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", components.host?.isEmpty == false else { return false }
        return true
    }
}

/// Builds the application `imgcache serve` runs (graceful shutdown on SIGINT/SIGTERM comes
/// with `runService()`).
public func buildApplication(configuration: ServerConfiguration) throws(CacheError) -> some ApplicationProtocol {
    var logger = Logger(label: "imgcache.serve")
    logger.logLevel = configuration.logLevel
    let service = try CacheService(cacheDirectory: configuration.cacheDirectory, variants: configuration.variants)
    let accessLog = AccessLog(index: service.index)
    let router = buildRouter(service: service, metrics: ServerMetrics(), accessLog: accessLog)
    return Application(
        router: router,
        server: .http1(configuration: .init(idleTimeout: configuration.idleTimeout)),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "imgcache"),
        services: [accessLog],
        logger: logger)
}
