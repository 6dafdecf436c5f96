import CacheStore
import Foundation
import ServiceLifecycle
import Synchronization

/// Records which originals were served, for prune's least-recently-used eviction, and the
/// hits and misses `imgcache stats` reports. Requests only touch an in-memory batch; a
/// background service writes it to the index every `interval` (one transaction) and once more
/// at shutdown. The same tick notices a prune made by another process and calls `onPrune`,
/// so the server forgets what it remembered about removed files; with a shared index that
/// announces its writes, a prune is noticed as soon as it commits.
public final class AccessLog: Service, Sendable {
    private struct Batch {
        var served: [String: Date] = [:]
        var hits = 0
        var misses = 0
    }
    private let pending = Mutex(Batch())
    private let lastPruneSeen = Mutex<Date?>(nil)
    private let index: any IndexStorage
    private let interval: Duration
    private let onPrune: @Sendable () -> Void

    public init(index: any IndexStorage, interval: Duration = .seconds(10), onPrune: @escaping @Sendable () -> Void = {}) {
        self.index = index
        self.interval = interval
        self.onPrune = onPrune
        lastPruneSeen.withLock { $0 = try? index.lastPrune() }
    }

    /// A hit: `digest` (an original, or the original of a thumbnail) was served; `hits` counts
    /// this one and any the caller served since its last call without recording them.
    public func record(_ digest: String, at date: Date = Date(), hits: Int = 1) {
        pending.withLock {
            $0.served[digest] = date
            $0.hits += hits
        }
    }

    /// Hits served without a new access time (the hot path records times once a second).
    public func recordHits(_ hits: Int) {
        pending.withLock { $0.hits += hits }
    }

    public func recordMiss() {
        pending.withLock { $0.misses += 1 }
    }

    /// Writes what was recorded since the last flush. Returns how many digests were written.
    @discardableResult
    public func flush() throws(CacheError) -> Int {
        let batch = pending.withLock { pending -> Batch in
            defer { pending = Batch() }
            return pending
        }
        guard !batch.served.isEmpty || batch.misses > 0 else { return 0 }
        // The ledger does not change what the manifest says: no new generation.
        try index.recordAccess(batch.served, hits: batch.hits, misses: batch.misses)
        return batch.served.count
    }

    /// Calls `onPrune` when a prune has run since the last check (in this process or another).
    public func checkForPrune() {
        guard let last = try? index.lastPrune() else { return }
        let changed = lastPruneSeen.withLock { seen -> Bool in
            defer { seen = last }
            return seen != last
        }
        if changed { onPrune() }
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            // A shared index announces prunes (LISTEN/NOTIFY): the replica forgets at once
            // rather than at its next tick.
            if let changes = index.changes() {
                group.addTask {
                    await cancelWhenGracefulShutdown {
                        for await kind in changes where kind == "prune" { self.checkForPrune() }
                    }
                }
            }
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
                _ = try? flush()
                checkForPrune()
            }
            _ = try? flush()
            group.cancelAll()
        }
    }
}
