import CacheStore
import Foundation
import Metrics
import SafeText
import Synchronization

/// What `/readyz` checks, each for real: the index answers a query that reads every row (a
/// damaged page shows here), the blob store answers a read, and a replica can still keep
/// copies or, if its folder cannot be written, stream from the bucket. Checked at most once a
/// second however often a load balancer asks; blocking, so run off the event loop.
public final class Readiness: Sendable {
    public struct Check: Sendable, Codable, Equatable {
        public var name: String
        public var ok: Bool
        /// What failed, or what is degraded (a replica streaming from the bucket).
        public var problem: String?
    }

    private let service: CacheService
    private let metrics: ServerMetrics
    private let last = Mutex<(at: ContinuousClock.Instant, checks: [Check])?>(nil)

    init(service: CacheService, metrics: ServerMetrics) {
        self.service = service
        self.metrics = metrics
    }

    /// The checks, from the last second's run when there was one.
    public func checks() -> [Check] {
        let now = ContinuousClock.now
        if let last = last.withLock({ $0 }), now - last.at < .seconds(1) { return last.checks }
        let checks = [index(), store()] + replica()
        for check in checks { metrics.readiness(check.name, ok: check.ok) }
        last.withLock { $0 = (now, checks) }
        return checks
    }

    private func index() -> Check {
        check("index", "the cache index cannot be read") { () throws(CacheError) in try service.index.checkReadable() }
    }

    private func store() -> Check {
        check("store", "the blob store cannot be read") { () throws(CacheError) in try service.store.checkReachable() }
    }

    private func check(_ name: String, _ failure: String, _ probe: () throws(CacheError) -> Void) -> Check {
        do {
            try probe()
            return Check(name: name, ok: true)
        } catch {
            return Check(name: name, ok: false, problem: SafeText.line("\(failure): \(error.message)"))
        }
    }

    /// Only on a replica of an object store.
    private func replica() -> [Check] {
        guard service.files.isReplica else { return [] }
        guard let problem = service.files.writeProblem() else { return [Check(name: "replica", ok: true)] }
        // Files are then streamed from the bucket: ready as long as the store answers.
        return [Check(name: "replica", ok: true, problem: SafeText.line("degraded, streaming from the bucket: \(problem)"))]
    }
}
