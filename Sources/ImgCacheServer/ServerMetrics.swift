import CacheStore
import Metrics
import Prometheus
import Synchronization

/// Prometheus metrics, through swift-metrics with a factory of our own (no global bootstrap,
/// so tests can build many applications in one process).
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    private let bytesServed: Metrics.Counter
    private let hits: Metrics.Counter
    private let misses: Metrics.Counter
    /// Counters with dimensions (per route and status, per render outcome…), made once each.
    private let counters = Mutex<[String: Metrics.Counter]>([:])

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
        counter("imgcache_http_requests_total", [("route", route), ("status", String(status))])
    }

    /// The counter of `label` with `dimensions`, made on first use and kept.
    private func counter(_ label: String, _ dimensions: [(String, String)]) -> Metrics.Counter {
        let key = label + dimensions.map { " \($0.0)=\($0.1)" }.joined()
        return counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: label, dimensions: dimensions, factory: factory)
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

    /// An on-demand render that ran (`outcome`: made, or failed), or a request that joined
    /// another's render or found the variant made meanwhile (`existing`).
    func variantRender(_ outcome: String) {
        counter("imgcache_variant_renders_total", [("outcome", outcome)]).increment()
    }

    /// An on-demand request refused before any work (`reason`: signature, unsigned, options,
    /// limit, busy, failed — a failure remembered from an earlier render).
    func variantRefused(_ reason: String) {
        counter("imgcache_variant_refusals_total", [("reason", reason)]).increment()
    }

    /// A streamed answer (the manifest) whose status was sent and whose body then could not be
    /// finished (`reason`: index — a page could not be read; client — the client left).
    func streamCutShort(route: String, reason: String) {
        counter("imgcache_streams_cut_short_total", [("route", route), ("reason", reason)]).increment()
    }

    /// The allocator's figures (`kind`: allocated, active, resident, retained), read at each scrape.
    func update(_ allocator: Allocator.Figures) {
        for (kind, bytes) in [("allocated", allocator.allocated), ("active", allocator.active),
                              ("resident", allocator.resident), ("retained", allocator.retained)] {
            Gauge(label: "imgcache_allocator_bytes", dimensions: [("kind", kind)], factory: factory).record(bytes)
        }
    }

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
