import Dispatch
import Foundation
import GRDB
import Synchronization

/// The one way cached files are removed (prune, verify --repair), by the protocol of
/// `RemovalLock`: rows in one write transaction, then the files, with the lock held
/// exclusively from inside the transaction until the last unlink.
extension CacheIndex {
    /// Runs `body` in a write transaction holding `lock` exclusively; `body` deletes rows and
    /// returns the paths of their files. After the commit those files are unlinked (on every
    /// core; a file already gone is not an error), then the lock is released.
    /// Returns `body`'s result and how many files were unlinked.
    public func removingFiles<T>(lock: RemovalLock,
                                 _ body: (Database) throws -> (result: T, paths: [String])) throws(CacheError) -> (T, filesRemoved: Int) {
        var held: RemovalLock.Held?
        defer { held?.release() }
        let (result, paths) = try write { db in
            held = try lock.acquire(exclusive: true)
            return try body(db)
        }
        let removed = Self.unlinkAll(paths)
        held?.release()
        return (result, removed)
    }

    /// Deletes the rows of whole images: each original, its thumbnails and its access time.
    /// Their URLs stay (a seed may still name them) without a digest or validators, not
    /// cached, with `status` and `lastError`, so the next sync fetches them unconditionally.
    /// Returns the paths of the files those rows pointed at.
    public static func deleteImages(_ db: Database, digests: [String], store: BlobStore,
                                    status: String, lastError: String?) throws -> [String] {
        guard !digests.isEmpty else { return [] }
        // A temporary table to join against: 100,000 digests do not fit in an IN list.
        try db.execute(sql: "CREATE TEMP TABLE IF NOT EXISTS removal_set (digest TEXT PRIMARY KEY) WITHOUT ROWID")
        try db.execute(sql: "DELETE FROM temp.removal_set")
        defer { try? db.execute(sql: "DROP TABLE IF EXISTS temp.removal_set") }
        let insert = try db.makeStatement(sql: "INSERT OR IGNORE INTO temp.removal_set (digest) VALUES (?)")
        for digest in digests { try insert.execute(arguments: [digest]) }

        var paths = digests.map { store.objectPath($0) }
        // Thumbnails deleted and listed in one pass (cascading from objects would find each again).
        let thumbnails = try Row.fetchCursor(db, sql: """
            DELETE FROM thumbnails WHERE digest IN (SELECT digest FROM temp.removal_set) RETURNING key, format
            """)
        while let row = try thumbnails.next() {
            paths.append(store.thumbnailPath(row[0], fileExtension: ThumbnailRecord.fileExtension(format: row[1])))
        }
        try db.execute(sql: """
            UPDATE sources SET digest = NULL, is_cached = 0, status = ?, etag = NULL, last_modified = NULL,
                               expires_at = NULL, last_error = ?
            WHERE digest IN (SELECT digest FROM temp.removal_set)
            """, arguments: [status, lastError])
        try db.execute(sql: "DELETE FROM access WHERE digest IN (SELECT digest FROM temp.removal_set)")
        try db.execute(sql: "DELETE FROM objects WHERE digest IN (SELECT digest FROM temp.removal_set)")
        return paths
    }

    /// Unlinks `paths` on every core; returns how many were removed.
    static func unlinkAll(_ paths: [String]) -> Int {
        let workers = min(max(1, ProcessInfo.processInfo.activeProcessorCount), max(1, paths.count / 1000))
        let removed = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var count = 0
            for index in stride(from: worker, to: paths.count, by: workers) where unlink(paths[index]) == 0 { count += 1 }
            removed.add(count, ordering: .relaxed)
        }
        return removed.load(ordering: .relaxed)
    }
}
