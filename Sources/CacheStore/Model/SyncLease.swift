import Foundation

/// Who holds an index's sync lease: one sync at a time per index, so that two syncs of the
/// same seeds (on one machine or several) do not both fetch, decode and upload everything.
/// The lock is the index's own (a `flock` beside the SQLite file, a PostgreSQL advisory lock
/// on a connection of its own): it ends with the holder's process, whatever kills it. The
/// holder is recorded in the index only so that the sync that cannot take the lease can say
/// whose it is.
public struct SyncLeaseHolder: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var pid: Int
    public var since: Date

    public init(host: String, pid: Int, since: Date) {
        self.host = host
        self.pid = pid
        // Whole seconds: both indexes store the time to the second or better.
        self.since = Date(timeIntervalSince1970: since.timeIntervalSince1970.rounded(.down))
    }

    /// This process, now.
    public static func current() -> SyncLeaseHolder {
        SyncLeaseHolder(host: ProcessInfo.processInfo.hostName, pid: Int(getpid()), since: Date())
    }

    public var description: String {
        "\(host) (pid \(pid)) since \(ISO8601DateFormatter().string(from: since))"
    }

    /// The error of a sync that finds the lease taken by `holder` (nil: not recorded yet).
    static func held(by holder: SyncLeaseHolder?) -> CacheError {
        CacheError(.leaseHeld, "another sync is running on " + (holder.map { "\($0)" } ?? "this index (its holder is not recorded yet)")
                   + ": wait for it, or pass --wait to start when it ends")
    }
}

/// A taken sync lease; `release()` (or the end of the process) lets the next sync in.
public protocol SyncLease: AnyObject, Sendable {
    func release()
}

/// The SQLite index's lease: an exclusive `flock` on `<cache>/sync.lock` (RemovalLock's mechanics).
final class FileSyncLease: SyncLease, @unchecked Sendable {
    private let held: RemovalLock.Held
    private let lock = NSLock()

    private init(_ held: RemovalLock.Held) { self.held = held }

    /// Takes the lock, or throws `held` (with `wait`, calls `waiting` and blocks until it is free).
    static func acquire(path: String, wait: Bool, held: () -> CacheError, waiting: () -> Void) throws(CacheError) -> FileSyncLease {
        if let taken = try RemovalLock.lock(path, exclusive: true, wait: false) { return FileSyncLease(taken) }
        guard wait else { throw held() }
        waiting()
        return FileSyncLease(try RemovalLock.waitForLock(path, exclusive: true))
    }

    func release() { lock.withLock { held.release() } }
}

extension CacheIndex {
    /// Takes the sync lease of this cache (see `SyncLeaseHolder`) and records `holder`.
    public func acquireSyncLease(_ holder: SyncLeaseHolder, wait: Bool,
                                 waiting: (SyncLeaseHolder?) -> Void) throws(CacheError) -> any SyncLease {
        let path = URL(fileURLWithPath: self.path).deletingLastPathComponent().appendingPathComponent("sync.lock").path
        let lease = try FileSyncLease.acquire(path: path, wait: wait,
                                              held: { SyncLeaseHolder.held(by: try? syncLeaseHolder()) },
                                              waiting: { waiting(try? syncLeaseHolder()) })
        do {
            try recordSyncLease(holder)
        } catch {
            lease.release()
            throw error
        }
        return lease
    }
}
