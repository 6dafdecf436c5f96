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
    addVariantRoute(to: router, service: service, metrics: metrics, accessLog: accessLog, streaming: streaming)
    router.get("/v1/image") { request, _ -> Response in
        try await imageRedirect(request, service: service, metrics: metrics)
    }
    router.get("/v1/manifest") { request, context -> Response in
        try await manifestResponse(request, service: service, metrics: metrics, logger: context.logger)
    }
    addOperationsRoutes(to: router, service: service, metrics: metrics)
    Dashboard(service: service, access: dashboard, guard: dashboardGuard).addRoutes(to: router)
    return router
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
    if !Allocator.purgeInBackground() {
        logger.warning("jemalloc's background threads did not start: memory freed after a burst stays mapped until the next allocations")
    }
    var services: [any Service] = [accessLog]
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
        throw CacheError(.io, "cannot use the TLS certificate \(tls.certificateChain) and key \(tls.privateKey): \(error)", cause: error)
    }
}
