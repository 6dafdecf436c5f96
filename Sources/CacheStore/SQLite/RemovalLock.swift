import Foundation

/// Orders file removal (prune, verify --repair) against writers that re-use files already on
/// disk (sync), across processes, with `flock` on `<cache>/removal.lock`.
///
/// The protocol, which cannot deadlock because both sides take the SQLite write lock first:
/// - a remover, inside its write transaction, takes the lock exclusively, deletes its rows,
///   commits, unlinks the files, then releases the lock;
/// - a writer, inside its write transaction, takes the lock shared before it checks that the
///   files its rows will point at exist (re-writing any that are gone), then inserts the rows.
///
/// So a writer never sees a file that a committed removal is about to unlink: no row ever
/// points at a file that prune removes, and removal never blocks readers or the server.
public struct RemovalLock: Sendable {
    public let path: String

    public init(cacheRoot: URL) {
        path = cacheRoot.appendingPathComponent("removal.lock").path
    }

    /// A held lock; `release()` (or deinit) lets others in.
    public final class Held: @unchecked Sendable {
        private var descriptor: Int32
        init(descriptor: Int32) { self.descriptor = descriptor }
        public func release() {
            guard descriptor >= 0 else { return }
            flock(descriptor, LOCK_UN)
            close(descriptor)
            descriptor = -1
        }
        deinit { release() }
    }

    /// Blocks until the lock is held.
    public func acquire(exclusive: Bool) throws(CacheError) -> Held {
        try Self.waitForLock(path, exclusive: exclusive)
    }

    /// `lock` that waits: held, or an error (never nil).
    static func waitForLock(_ path: String, exclusive: Bool) throws(CacheError) -> Held {
        guard let held = try lock(path, exclusive: exclusive, wait: true) else { throw CacheError(.io, "cannot lock \(path)") }
        return held
    }

    /// `flock` on the file at `path` (created if missing): held, or nil when another holds it and
    /// `wait` is false. The mechanics the sync lease's lock file shares.
    static func lock(_ path: String, exclusive: Bool, wait: Bool) throws(CacheError) -> Held? {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw CacheError(.io, "cannot open \(path): \(String(cString: strerror(errno)))") }
        while flock(descriptor, (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB)) != 0 {
            let failure = errno
            guard failure == EINTR else {
                close(descriptor)
                if failure == EWOULDBLOCK && !wait { return nil }
                throw CacheError(.io, "cannot lock \(path): \(String(cString: strerror(failure)))")
            }
        }
        return Held(descriptor: descriptor)
    }

    /// Runs `body` with the lock held shared (writers).
    public func shared<T>(_ body: () throws -> T) throws -> T {
        let held = try acquire(exclusive: false)
        defer { held.release() }
        return try body()
    }
}
