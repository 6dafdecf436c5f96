import Foundation
import GRDB

/// The one way cached files are removed (prune, verify --repair), by the protocol of
/// `RemovalLock`: rows in one write transaction, then the files, with the lock held
/// exclusively from inside the transaction until the last file is gone.
extension CacheIndex {
    /// Runs `body` in a write transaction holding the removal lock exclusively; `body` deletes
    /// rows and returns the blobs they named. After the commit `removeFiles` deletes those (a
    /// file already gone is not an error), then the lock is released. Returns how many it removed.
    func removingFiles(_ removeFiles: ([BlobKey]) -> Int, _ body: (Database) throws -> [BlobKey]) throws(CacheError) -> Int {
        var held: RemovalLock.Held?
        defer { held?.release() }
        let keys = try write { db in
            held = try removalLock.acquire(exclusive: true)
            return try body(db)
        }
        let removed = keys.isEmpty ? 0 : removeFiles(keys)
        held?.release()
        return removed
    }

    /// Deletes the rows of whole images: each original, its thumbnails and its access time.
    /// Their URLs stay (a seed may still name them) without a digest or validators, not
    /// cached, with `status` and `lastError`, so the next sync fetches them unconditionally.
    /// Returns the blobs those rows named.
    static func deleteImages(_ db: Database, digests: [String], status: SourceStatus, lastError: String?) throws -> [BlobKey] {
        guard !digests.isEmpty else { return [] }
        // A temporary table to join against: 100,000 digests do not fit in an IN list.
        try db.execute(sql: "CREATE TEMP TABLE IF NOT EXISTS removal_set (digest TEXT PRIMARY KEY) WITHOUT ROWID")
        try db.execute(sql: "DELETE FROM temp.removal_set")
        defer { try? db.execute(sql: "DROP TABLE IF EXISTS temp.removal_set") }
        let insert = try db.makeStatement(sql: "INSERT OR IGNORE INTO temp.removal_set (digest) VALUES (?)")
        for digest in digests { try insert.execute(arguments: [digest]) }

        var keys = digests.map(BlobKey.original)
        // Thumbnails deleted and listed in one pass (cascading from objects would find each again).
        let thumbnails = try Row.fetchCursor(db, sql: """
            DELETE FROM thumbnails WHERE digest IN (SELECT digest FROM temp.removal_set) RETURNING key, format
            """)
        while let row = try thumbnails.next() {
            let format = StoredFormat(rawValue: row[1]) ?? .jpeg
            keys.append(.thumbnail(row[0], fileExtension: format.fileExtension))
        }
        try db.execute(sql: """
            UPDATE sources SET digest = NULL, is_cached = 0, status = ?, etag = NULL, last_modified = NULL,
                               expires_at = NULL, last_error = ?, failure_kind = NULL
            WHERE digest IN (SELECT digest FROM temp.removal_set)
            """, arguments: [status, lastError])
        try db.execute(sql: "DELETE FROM access WHERE digest IN (SELECT digest FROM temp.removal_set)")
        try db.execute(sql: "DELETE FROM objects WHERE digest IN (SELECT digest FROM temp.removal_set)")
        return keys
    }
}

/// What `verify --repair` writes.
extension CacheIndex {
    /// Replaces a thumbnail's row with `updated` (same key, new size and hash) after
    /// `writeFile` wrote its file under the removal lock. False, with nothing written, when the
    /// row is gone by now (a prune took the image).
    public func replaceThumbnail(_ updated: ThumbnailRecord, writeFile: () throws -> Void) throws(CacheError) -> Bool {
        try write { db in
            guard try ThumbnailRecord.exists(db, key: updated.key) else { return false }
            // Under the removal lock: a prune cannot take the image between the check and the write.
            try removalLock.shared(writeFile)
            try updated.update(db)
            return true
        }
    }

    /// Removes damaged originals (their images: thumbnails, rows), thumbnails that could not be
    /// remade, and `orphans` that still have no row now that no writer can add one, in one
    /// transaction; then `removeFiles` deletes their files under the removal lock. Returns
    /// the URLs that are no longer cached.
    public func removeDamaged(originals: [String], thumbnails: [ThumbnailRecord], orphans: [BlobKey],
                              reason: String, removeFiles: ([BlobKey]) -> Int) throws(CacheError) -> [String] {
        var urls: Set<String> = []
        _ = try removingFiles(removeFiles) { db in
            let urlsOf = { (digest: String) in try String.fetchAll(db, sql: "SELECT url FROM sources WHERE digest = ?", arguments: [digest]) }
            for digest in originals { urls.formUnion(try urlsOf(digest)) }
            var keys = try Self.deleteImages(db, digests: originals, status: .pending, lastError: reason)
            for thumbnail in thumbnails where try ThumbnailRecord.exists(db, key: thumbnail.key) {
                urls.formUnion(try urlsOf(thumbnail.digest))
                keys.append(thumbnail.blobKey)
                try db.execute(sql: "UPDATE sources SET is_cached = 0 WHERE digest = ?", arguments: [thumbnail.digest])
                try thumbnail.delete(db)
            }
            for orphan in orphans {
                let claimed = orphan.isOriginal ? try ObjectRecord.exists(db, key: orphan.name)
                                                : try ThumbnailRecord.exists(db, key: orphan.name)
                if !claimed { keys.append(orphan) }
            }
            return keys
        }
        return urls.sorted()
    }
}

/// The access ledger (prune's least-recently-used input) and the serving counters.
extension CacheIndex {
    /// Records a batch of accesses (each digest's latest time is kept) and hit and miss
    /// counts, in one transaction that does not move the generation (the manifest is unchanged).
    public func recordAccess(_ served: [String: Date], hits: Int, misses: Int) throws(CacheError) {
        try write(bumpingGeneration: false) { db in
            let statement = try db.makeStatement(sql: """
                INSERT INTO access (digest, last_access) VALUES (?, ?)
                ON CONFLICT(digest) DO UPDATE SET last_access = MAX(last_access, excluded.last_access)
                """)
            for (digest, date) in served { try statement.execute(arguments: [digest, date]) }
            if hits > 0 { try Self.addToCounter(db, MetaKey.servedHits, hits) }
            if misses > 0 { try Self.addToCounter(db, MetaKey.servedMisses, misses) }
        }
    }
}

/// What `serve` writes for a variant made on request.
extension CacheIndex: OnDemandStorage {
    /// One process's requests are coalesced by the server; here the render runs outside any
    /// transaction (a render holds no lock other writers wait for), and the row is written only
    /// if no other process wrote it meanwhile and the original is still there.
    public func makeVariant(key: String, digest: String, render: () throws -> RenderedVariant) throws(CacheError) -> VariantMade {
        if let existing = try thumbnail(key: key) { return .existing(existing) }
        let rendered: RenderedVariant
        do {
            rendered = try render()
        } catch let error as CacheError {
            throw error
        } catch {
            throw CacheError(.io, "rendering variant \(key): \(error)", cause: error)
        }
        return try write(bumpingGeneration: false) { db in
            if let existing = try ThumbnailRecord.fetchOne(db, key: key) { return .existing(existing) }
            return try removalLock.shared { () throws -> VariantMade in
                guard try ObjectRecord.exists(db, key: digest) else { return .originalGone }
                try rendered.writeFile()
                try rendered.record.insert(db)
                return .made(rendered.record)
            }
        }
    }
}
