import Dispatch
import Foundation
import Logging
import PostgresNIO

/// The shared index's sync lease: a session advisory lock on a connection of its own, held
/// for the whole sync (it ends with the connection, so with the process, whatever kills it).
final class PostgresSyncLease: SyncLease, @unchecked Sendable {
    private let lock = NSLock()
    private var connection: PostgresConnection?

    init(_ connection: PostgresConnection) { self.connection = connection }

    func release() {
        lock.lock()
        let connection = self.connection
        self.connection = nil
        lock.unlock()
        guard let connection else { return }
        // Unlocked first, so the next taker finds the lease free at once (a closed session's locks
        // go only when the server has ended its backend, which a loaded server does later); then
        // the session ends, which releases them anyway. No unbounded wait: the server may be gone
        // (a query on a connection it dropped can wait for ever).
        let unlocked = DispatchSemaphore(value: 0)
        connection.query("SELECT pg_advisory_unlock_all()", logger: Self.logger).whenComplete { _ in unlocked.signal() }
        _ = unlocked.wait(timeout: .now() + 2)
        let closed = DispatchSemaphore(value: 0)
        connection.close().whenComplete { _ in closed.signal() }
        _ = closed.wait(timeout: .now() + 5)
    }

    deinit { release() }

    static let logger = Logger(label: "imgcache.postgres.lease")
}

extension PostgresIndex {
    /// Takes the sync lease of this index (see `SyncLeaseHolder`) and records `holder`.
    public func acquireSyncLease(_ holder: SyncLeaseHolder, wait: Bool,
                                 waiting: (SyncLeaseHolder?) -> Void) throws(CacheError) -> any SyncLease {
        let connection = try PostgresPool.connect(location)
        let lease = PostgresSyncLease(connection)
        do {
            let logger = PostgresSyncLease.logger
            let rows = try connection.query("SELECT pg_try_advisory_lock(\(Self.syncLeaseKey))", logger: logger).wait().rows
            if try rows.first?.decode(Bool.self) != true {
                guard wait else { throw SyncLeaseHolder.held(by: try? syncLeaseHolder()) }
                waiting(try? syncLeaseHolder())
                _ = try connection.query("SELECT pg_advisory_lock(\(Self.syncLeaseKey))", logger: logger).wait().rows
            }
            try transaction(write: false) { session in
                try session.query("""
                    INSERT INTO sync_lease (id, host, pid, since) VALUES (1, \(holder.host), \(holder.pid), \(holder.since))
                    ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, since = excluded.since
                    """)
            }
            return lease
        } catch {
            lease.release()
            throw Self.error(error, location: location)
        }
    }

    /// The last recorded holder of the sync lease (the current one while a sync runs).
    public func syncLeaseHolder() throws(CacheError) -> SyncLeaseHolder? {
        try read { session in
            try session.query("SELECT host, pid, since FROM sync_lease WHERE id = 1").first.map { row in
                let (host, pid, since) = try row.decode((String, Int, Date).self)
                return SyncLeaseHolder(host: host, pid: pid, since: since)
            }
        }
    }
}
