import CacheStore
import Foundation
import Hummingbird
import HummingbirdCore
import ImgCacheKit
import Logging
import Metrics
import NIOCore
import HummingbirdHTTP2
import NIOPosix
import NIOSSL
import Prometheus
import SafeText
import ServiceLifecycle
import Synchronization

/// Settings for `imgcache serve`.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// The cache served: its folder, index, store, replica budget and variants (imgcache.yml).
    public var cache = Configuration()
    /// The logger's level: requests are logged at .info, so .warning silences them.
    public var logLevel: Logger.Level = .info
    /// A connection idle this long is closed (slow clients cannot hold one forever).
    public var idleTimeout: TimeAmount = .seconds(30)
    /// `--prune-every`: prune inside the server on an interval.
    public var prune: PruneSchedule?
    /// `--sync-every`: sync a seeds folder inside the server on an interval (first run at start).
    public var sync: SyncSchedule?
    /// Who sees the dashboard at `/` (`--dashboard`, `--dashboard-token`): by default anyone
    /// who reaches the loopback address the server listens on.
    public var dashboard: DashboardAccess = .open
    /// More names the dashboard answers to on a loopback address (`--dashboard-host`), beyond
    /// localhost, 127.0.0.1, [::1] and the address itself.
    public var dashboardHosts: [String] = []
    /// `--tls-cert` and `--tls-key` (PEM): HTTPS, with HTTP/2 or HTTP/1.1 by ALPN. Without
    /// them the port speaks HTTP/1.1 and cleartext HTTP/2 (prior knowledge).
    public var tls: (certificateChain: String, privateKey: String)?
    /// Connections, streams, streamed responses and request heads (`ServerLimits`).
    public var limits = ServerLimits()

    public init() {}
}

public struct PruneSchedule: Sendable {
    public var every: Duration
    public var policy: PrunePolicy
    public var unreferencedSeeds: String?
    public var writeBackSeeds: String?
    public init(every: Duration, policy: PrunePolicy, unreferencedSeeds: String? = nil, writeBackSeeds: String? = nil) {
        self.every = every
        self.policy = policy
        self.unreferencedSeeds = unreferencedSeeds
        self.writeBackSeeds = writeBackSeeds
    }
}

public struct SyncSchedule: Sendable {
    public var every: Duration
    public var seedsDirectory: String
    public var configuration: Configuration
    public var writeBack: Bool
    public init(every: Duration, seedsDirectory: String, configuration: Configuration, writeBack: Bool = false) {
        self.every = every
        self.seedsDirectory = seedsDirectory
        self.configuration = configuration
        self.writeBack = writeBack
    }
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
        refusedByServer = Counter(label: "imgcache_connections_refused_total", dimensions: [("limit", "server")], factory: factory)
        refusedByClient = Counter(label: "imgcache_connections_refused_total", dimensions: [("limit", "client")], factory: factory)
        openConnections = Gauge(label: "imgcache_connections_open", factory: factory)
        streamsRefused = Counter(label: "imgcache_streams_refused_total", factory: factory)
        streamsTimedOut = Counter(label: "imgcache_streams_timed_out_total", factory: factory)
    }

    /// Made once: they change on every connection and streamed response.
    private let refusedByServer: Metrics.Counter
    private let refusedByClient: Metrics.Counter
    private let openConnections: Metrics.Gauge
    private let openConnectionCount = Mutex(0)
    private let streamsRefused: Metrics.Counter
    private let streamsTimedOut: Metrics.Counter

    func request(route: String, status: Int) {
        requestCounter(route: route, status: status).increment()
    }

    /// The counter of one (route, status): the hot path keeps the ones it uses.
    func requestCounter(route: String, status: Int) -> Metrics.Counter {
        let key = "\(route) \(status)"
        return requests.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: "imgcache_http_requests_total", dimensions: [("route", route), ("status", String(status))],
                                  factory: factory)
            counters[key] = counter
            return counter
        }
    }

    func served(bytes: Int) { bytesServed.increment(by: bytes) }

    /// A connection turned away over a cap (`limit`: server or client).
    func connectionRefused(_ limit: String) {
        (limit == "server" ? refusedByServer : refusedByClient).increment()
    }

    func connectionsOpen(delta: Int) {
        openConnections.record(openConnectionCount.withLock { $0 += delta; return $0 })
    }

    /// A response over `maxStreamingResponses` (503), or one closed for not reading (send timeout).
    func streamRefused() { streamsRefused.increment() }
    func streamTimedOut() { streamsTimedOut.increment() }

    /// One readiness check's outcome: `imgcache_ready{check="index"}` 1 or 0 (at most once a second).
    func readiness(_ check: String, ok: Bool) {
        Gauge(label: "imgcache_ready", dimensions: [("check", check)], factory: factory).record(ok ? 1 : 0)
    }

    func lookup(hit: Bool) { (hit ? hits : misses).increment() }

    func update(_ totals: IndexTotals) {
        Gauge(label: "imgcache_objects", factory: factory).record(totals.objects)
        Gauge(label: "imgcache_thumbnails", factory: factory).record(totals.thumbnails)
        Gauge(label: "imgcache_cache_bytes", factory: factory).record(totals.objectBytes + totals.thumbnailBytes)
        Gauge(label: "imgcache_last_sync_timestamp_seconds", factory: factory)
            .record(totals.lastSync?.timeIntervalSince1970 ?? 0)
        Gauge(label: "imgcache_last_prune_timestamp_seconds", factory: factory)
            .record(totals.lastPrune?.timeIntervalSince1970 ?? 0)
    }
}

/// Builds the router: a function tests call in-process.
/// `streaming` bounds the responses streamed from files (see `StreamedFile`).
public func buildRouter(service: CacheService, metrics: ServerMetrics, accessLog: AccessLog? = nil,
                        dashboard: DashboardAccess = .off, dashboardGuard: DashboardGuard = .init(),
                        streaming: StreamingPolicy = .init(),
                        limits: ServerLimits = .init()) -> Router<ServerRequestContext> {
    // HEAD for every GET route that has none of its own (the GET's answer without its body).
    let router = Router(context: ServerRequestContext.self, options: .autoGenerateHeadEndpoints)
    // One line per request at .info; the logger's level (--log-level) decides whether it shows.
    router.add(middleware: RequestLogMiddleware())
    router.add(middleware: ErrorMiddleware(metrics: metrics))
    router.add(middleware: HeadLimitMiddleware(limits: limits))
    if let clients = ClientRequestGate(limits: limits, metrics: metrics) { router.add(middleware: ClientRequestMiddleware(gate: clients)) }
    addFileRoutes(to: router, service: service, metrics: metrics, accessLog: accessLog, streaming: streaming)
    router.get("/v1/image") { request, _ -> Response in
        try await imageRedirect(request, service: service, metrics: metrics)
    }
    let manifests = ManifestCache(service: service)
    router.get("/v1/manifest") { request, _ -> Response in
        try await manifestResponse(request, manifests: manifests)
    }
    addOperationsRoutes(to: router, service: service, metrics: metrics)
    Dashboard(service: service, access: dashboard, guard: dashboardGuard).addRoutes(to: router)
    return router
}

/// `/t/<digest>/<variant>.<ext>` and `/o/<digest>.<ext>`: immutable files, GET and HEAD.
func addFileRoutes(to router: Router<ServerRequestContext>, service: CacheService, metrics: ServerMetrics, accessLog: AccessLog?,
                   streaming: StreamingPolicy) {
    @Sendable func serve(_ file: CacheService.ServedFile?, request: Request, context: ServerRequestContext) async throws -> Response {
        guard let file else {
            metrics.lookup(hit: false)
            accessLog?.recordMiss()
            throw HTTPError(.notFound)
        }
        metrics.lookup(hit: true)
        accessLog?.record(file.digest)
        if let warning = service.takeReplicaWarning() { context.logger.warning("\(warning)") }
        var headers = file.headers
        if file.isMatched(by: request.headers[.ifNoneMatch]) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.acceptRanges] = "bytes"
        headers[.contentLength] = String(file.bytes)
        if request.method == .head { return Response(status: .ok, headers: headers) }
        // A range of the file (resuming a large original); If-Range naming another version gets it whole.
        let ifRange = request.headers[.ifRange]
        let range = ifRange == nil || ifRange == file.etag ? ByteRange.answer(request.headers[.range], size: file.bytes) : .whole
        if range == .unsatisfiable {
            return Response(status: .rangeNotSatisfiable, headers: [.contentRange: "bytes */\(file.bytes)", .eTag: file.etag])
        }
        if case .whole = range, let bytes = file.inMemory ?? service.smallFileBytes(file) {
            metrics.served(bytes: file.bytes)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: bytes))
        }
        return try streamed(file, range: range, headers: headers, channel: context.channel, service: service, metrics: metrics,
                            streaming: streaming)
    }

    for method in [HTTPRequest.Method.get, .head] {
        router.on("/t/:digest/:file", method: method) { request, context in
            let digest = try context.parameters.require("digest")
            let file = try context.parameters.require("file")
            var found = service.remembered("t/\(digest)/\(file)")
            if found == nil { found = try await IndexReads.run { try service.thumbnail(digest: digest[...], file: file[...]) } }
            return try await serve(found, request: request, context: context)
        }
        router.on("/o/:file", method: method) { request, context in
            let file = try context.parameters.require("file")
            var found = service.remembered("o/\(file)")
            if found == nil { found = try await IndexReads.run { try service.original(file: file[...]) } }
            return try await serve(found, request: request, context: context)
        }
    }

}

/// `file` (or `range` of it) streamed in pieces, never read whole, and only while a slot is
/// free (503 when not). An HTTP/2 stream (its channel's parent is the connection) holds no
/// descriptor while it waits.
func streamed(_ file: CacheService.ServedFile, range: ByteRange.Answer, headers: HTTPFields, channel: any Channel,
              service: CacheService, metrics: ServerMetrics, streaming: StreamingPolicy) throws -> Response {
    let isStream = channel.parent?.parent != nil
    guard let open = StreamedFile(path: file.path, holdDescriptor: !isStream), open.size == file.bytes else {
        service.forget(file)
        throw HTTPError(.notFound)
    }
    guard let slot = streaming.slots.take() else {
        metrics.streamRefused()
        return jsonError(.serviceUnavailable, "too many responses in progress; retry shortly", headers: [.retryAfter: "1"])
    }
    var headers = headers
    let (start, count): (Int, Int)
    if case .partial(let part) = range {
        (start, count) = (part.first, part.count)
        headers[.contentLength] = String(part.count)
        headers[.contentRange] = "bytes \(part.first)-\(part.last)/\(file.bytes)"
    } else {
        (start, count) = (0, file.bytes)
    }
    metrics.served(bytes: count)
    let body = open.body(from: start, count: count, slot: slot, channel: channel, turns: streaming.turns, sendTimeout: streaming.sendTimeout,
                         onTimeout: { metrics.streamTimedOut() })
    return Response(status: count == file.bytes ? .ok : .partialContent, headers: headers, body: body)
}

/// `/v1/image?url=&variant=[&format=][&fallback=origin]`: a 302 to the immutable URL of the
/// best cached format the client accepts.
func imageRedirect(_ request: Request, service: CacheService, metrics: ServerMetrics) async throws -> Response {
    guard let url = request.uri.queryParameters.get("url"), !url.isEmpty else {
        return jsonError(.badRequest, "the url parameter is required")
    }
    let variant = request.uri.queryParameters.get("variant") ?? service.variants.first?.name ?? "thumb"
    guard service.variants.contains(where: { $0.name == variant }) else {
        return jsonError(.badRequest, "unknown variant '\(variant)'; configured: \(service.variants.map(\.name).joined(separator: ", "))")
    }
    var requested: OutputFormat?
    if let name = request.uri.queryParameters.get("format") {
        let formats = service.variants.first { $0.name == variant }!.formats
        let named = ImageFormat(name: name)?.fileExtension ?? name
        requested = formats.first { $0.fileExtensions.contains(named) }
        guard requested != nil else {
            return jsonError(.badRequest, "variant \(variant) has no format '\(name)'; configured: \(formats.map(\.rawValue).joined(separator: ", "))")
        }
    }
    let cached = try await IndexReads.run({ try service.immutableURLs(for: url, variant: variant) })
    let chosen = requested.map { format in cached.firstIndex { $0.format == format } }
        ?? FormatNegotiation.choose(accept: request.headers[.accept], available: cached.map(\.format))
    if let chosen {
        metrics.lookup(hit: true)
        // The answer depends on Accept (unless format= fixed it): caches must key on it.
        return Response(status: .found, headers: [.location: cached[chosen].url, .cacheControl: "no-cache", .vary: "Accept"])
    }
    metrics.lookup(hit: false)
    // Only to a URL some seed named (the index knows it): never an open redirect to any URL a link carries.
    if request.uri.queryParameters.get("fallback") == "origin", SeedURL.isFetchable(url),
       try await IndexReads.run({ try service.knows(url: url) }) {
        return Response(status: .found, headers: [.location: url, .cacheControl: "no-cache"])
    }
    return jsonError(.notFound, "\(url) is not cached for variant \(variant)")
}

/// `/healthz` (liveness: the process answers), `/readyz` (readiness, see `Readiness`) and `/metrics`.
func addOperationsRoutes(to router: Router<ServerRequestContext>, service: CacheService, metrics: ServerMetrics) {
    router.get("/healthz") { _, _ -> Response in
        Response(status: .ok, headers: [.contentType: "text/plain", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
    }

    let readiness = Readiness(service: service, metrics: metrics)
    router.get("/readyz") { _, _ -> Response in
        let checks = try await IndexReads.run { readiness.checks() }
        let ready = checks.allSatisfy(\.ok)
        let body = try JSONEncoder().encode(ReadyAnswer(ready: ready, checks: checks))
        return Response(status: ready ? .ok : .serviceUnavailable, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(data: body)))
    }

    router.get("/metrics") { _, _ -> Response in
        metrics.update(try await IndexReads.run { try service.totals() })
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                        body: .init(byteBuffer: ByteBuffer(bytes: metrics.registry.emitToBuffer())))
    }
}

/// `/readyz`'s body: `{"ready": false, "checks": [{"name": "index", "ok": false, "problem": "…"}, …]}`.
public struct ReadyAnswer: Codable, Sendable {
    public var ready: Bool
    public var checks: [Readiness.Check]
}

/// `/v1/manifest`: the whole manifest (built once per index change, strong ETag, 304), or with
/// `seed=` (one seed file's URLs) and `limit=` / `after=` (pages in URL order, `next` the cursor).
func manifestResponse(_ request: Request, manifests: ManifestCache) async throws -> Response {
    let query = request.uri.queryParameters
    let seed = query.get("seed"), after = query.get("after")
    var limit: Int?
    if let text = query.get("limit") {
        guard let value = Int(text), (1...100_000).contains(value) else {
            return jsonError(.badRequest, "limit must be a whole number from 1 to 100000")
        }
        limit = value
    }
    let built = try await manifests.current()
    let body: ByteBuffer, etag: String
    if seed == nil && after == nil && limit == nil {
        (body, etag) = (built.json, built.etag)
    } else {
        let data = built.manifest.page(seed: seed, after: after, limit: limit, sortedURLs: built.urls).json()
        (body, etag) = (ByteBuffer(data: data), ETag.of(data))
    }
    var headers: HTTPFields = [.contentType: "application/json", .cacheControl: "no-cache", .eTag: etag]
    if ETag.matches(request.headers[.ifNoneMatch], etag) { return Response(status: .notModified, headers: headers) }
    headers[.contentLength] = String(body.readableBytes)
    return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
}

/// A JSON error body.
func jsonError(_ status: HTTPResponse.Status, _ message: String, headers extra: HTTPFields = [:]) -> Response {
    let body = (try? JSONEncoder().encode(["error": message])) ?? Data()
    var headers: HTTPFields = [.contentType: "application/json"]
    headers.append(contentsOf: extra)
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(data: body)))
}

/// How the file routes stream files: the slots (`ServerLimits.maxStreamingResponses`), the
/// HTTP/2 streams of a connection that send at once, and how long a piece may wait for its client.
public struct StreamingPolicy: Sendable {
    let slots: StreamingSlots
    let turns: SendingTurns
    let sendTimeout: TimeAmount
    public init(maxResponses: Int = ServerLimits().maxStreamingResponses, sendTimeout: TimeAmount = .seconds(30)) {
        slots = StreamingSlots(capacity: maxResponses)
        turns = SendingTurns(perConnection: ServerLimits.sendersPerConnection, total: ServerLimits.senders)
        self.sendTimeout = sendTimeout
    }
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
/// `service` may be passed in (tests look at its caches); by default one is opened on the cache.
public func buildApplication(configuration: ServerConfiguration, service provided: CacheService? = nil) throws(CacheError) -> some ApplicationProtocol {
    var logger = Logger(label: "imgcache.serve")
    logger.logLevel = configuration.logLevel
    let service: CacheService
    if let provided {
        service = provided
    } else {
        service = try CacheService(Cache.open(configuration.cache, for: .serving))
    }
    let accessLog = AccessLog(index: service.index, onPrune: { service.invalidate() })
    let metrics = ServerMetrics()
    let limits = configuration.limits.effective(descriptorLimit: DescriptorLimit.current())
    let streaming = StreamingPolicy(maxResponses: limits.maxStreamingResponses, sendTimeout: configuration.idleTimeout)
    let dashboardGuard = DashboardGuard.forServer(host: configuration.host, names: configuration.dashboardHosts,
                                                  tls: configuration.tls != nil)
    let router = buildRouter(service: service, metrics: metrics, accessLog: accessLog, dashboard: configuration.dashboard,
                             dashboardGuard: dashboardGuard, streaming: streaming, limits: limits)
    var services: [any Service] = [accessLog, MemoryTrim()]
    services += scheduledJobs(configuration, service: service, logger: logger)
    let serverName = "imgcache"
    let idleTimeout = configuration.idleTimeout
    let gate = ConnectionGate(limits: limits, metrics: metrics)
    let server: HTTPServerBuilder
    if let tls = configuration.tls {
        server = try serverTLS(tls, idleTimeout: idleTimeout, gate: gate)
    } else {
        server = .http1AndH2C(idleTimeout: idleTimeout, gate: gate, hotFiles: { [logger] in
            HotFileHandler(service: service, metrics: metrics, accessLog: accessLog, logger: logger, serverName: serverName,
                           idleTimeout: idleTimeout)
        })
    }
    return Application(
        router: router,
        server: server,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: serverName),
        services: services,
        logger: logger)
}

/// HTTPS with HTTP/2 and HTTP/1.1 offered by ALPN, from PEM files.
func serverTLS(_ tls: (certificateChain: String, privateKey: String), idleTimeout: TimeAmount,
               gate: ConnectionGate) throws(CacheError) -> HTTPServerBuilder {
    do {
        let chain = try NIOSSLCertificate.fromPEMFile(tls.certificateChain).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: tls.privateKey, format: .pem)
        let configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        return try .tls(configuration, idleTimeout: idleTimeout, gate: gate)
    } catch {
        throw CacheError(.io, "cannot use the TLS certificate \(tls.certificateChain) and key \(tls.privateKey): \(error)")
    }
}

/// The `--sync-every` and `--prune-every` jobs; each makes the server forget its lookups after it runs.
public func scheduledJobs(_ configuration: ServerConfiguration, service: CacheService, logger: Logger) -> [ScheduledJob] {
    var jobs: [ScheduledJob] = []
    if let sync = configuration.sync {
        jobs.append(ScheduledJob(name: "sync", every: sync.every, runAtStart: true, logger: logger, job: {
            let syncer = try Syncer(seedsDirectory: sync.seedsDirectory, configuration: sync.configuration)
            syncer.writeBack = sync.writeBack
            let r = try syncer.run()
            return "\(r.images) images: \(r.fetched) fetched, \(r.notModified) not modified, \(r.fresh) fresh, "
                + "\(r.failed) failed; \(r.cached) cached"
        }, afterRun: { service.invalidate() }))
    }
    if let prune = configuration.prune {
        jobs.append(ScheduledJob(name: "prune", every: prune.every, logger: logger, job: {
            let r = try Pruner(store: service.store, index: service.index)
                .run(policy: prune.policy, unreferencedSeeds: prune.unreferencedSeeds, writeBackSeeds: prune.writeBackSeeds)
            return "removed \(r.removed.count) of \(r.imagesBefore) images, \(r.bytesReclaimed) bytes reclaimed, "
                + "cache now \(r.bytesAfter) bytes, \(r.keptInGrace) kept within the grace period"
        }, afterRun: { service.invalidate() }))
    }
    return jobs
}
