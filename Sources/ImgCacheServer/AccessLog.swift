import CacheStore
import Foundation
import GRDB
import ServiceLifecycle
import Synchronization

/// Records which originals were served, for prune's least-recently-used eviction. Requests
/// only add a digest to an in-memory set; a background service writes the set to the index
/// every `interval` (one transaction for all of them) and once more at shutdown.
public final class AccessLog: Service, Sendable {
    private let pending = Mutex<[String: Date]>([:])
    private let index: CacheIndex
    private let interval: Duration

    public init(index: CacheIndex, interval: Duration = .seconds(10)) {
        self.index = index
        self.interval = interval
    }

    public func record(_ digest: String, at date: Date = Date()) {
        pending.withLock { $0[digest] = date }
    }

    /// Writes what was recorded since the last flush. Returns how many digests were written.
    @discardableResult
    public func flush() throws(CacheError) -> Int {
        let batch = pending.withLock { pending -> [String: Date] in
            defer { pending = [:] }
            return pending
        }
        guard !batch.isEmpty else { return 0 }
        try index.write { db in
            let statement = try db.makeStatement(sql: """
                INSERT INTO access (digest, last_access) VALUES (?, ?)
                ON CONFLICT(digest) DO UPDATE SET last_access = MAX(last_access, excluded.last_access)
                """)
            for (digest, date) in batch { try statement.execute(arguments: [digest, date]) }
        }
        return batch.count
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
            try? flush()
        }
        try? flush()
    }
}
