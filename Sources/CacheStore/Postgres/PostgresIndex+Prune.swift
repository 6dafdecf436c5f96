import Foundation
import PostgresNIO
import Synchronization

/// Prune, repair and the access ledger, as `CacheIndex+Prune` and `Removal` do them in SQLite.
extension PostgresIndex {
    public func pruneInventory(referencedURLs: ReferencedURLs?, staleBefore: Date) throws(CacheError) -> PruneInventory {
        try read { session in try Self.loadInventory(session, referencedURLs: referencedURLs, staleBefore: staleBefore) }
    }

    public func planPrune<T>(referencedURLs: ReferencedURLs?, staleBefore: Date,
                             _ plan: (PruneCandidates) throws -> T) throws(CacheError) -> T {
        try read { session in try plan(Self.candidates(session, referencedURLs: referencedURLs, staleBefore: staleBefore)) }
    }

    public func prune(at now: Date, referencedURLs: ReferencedURLs?, staleBefore: Date,
                      decide: (PruneCandidates) throws -> PruneDecision,
                      removeFiles: ([BlobKey]) -> Int) throws(CacheError) -> PruneRemoval {
        var removal = PruneRemoval()
        removal.filesRemoved = try removingFiles(removeFiles) { session in
            let decision = try decide(Self.candidates(session, referencedURLs: referencedURLs, staleBefore: staleBefore))
            try session.query("DELETE FROM sources WHERE url = ANY(\(decision.forgetURLs.sorted())::text[])")
            let keys = try Self.deleteImages(session, digests: decision.digests, status: .pruned, lastError: nil)
            removal.thumbnailsRemoved = keys.count - decision.digests.count
            try Self.setMeta(session, MetaKey.lastPrune, at: now)
            try Self.setMeta(session, MetaKey.lastPruneBytes, number: decision.bytesReclaimed)
            return keys
        }
        return removal
    }

    /// As `CacheIndex.candidatesSQL`: each image least recently used first, read through a
    /// cursor of the transaction 1,000 rows at a time.
    static let candidatesSQL = """
        WITH t AS (SELECT digest, SUM(bytes)::int8 AS bytes, MAX(created_at) AS written, string_agg(variant, E'\\n') AS variants
                   FROM thumbnails GROUP BY digest),
             s AS (SELECT digest, MAX(GREATEST(updated_at, COALESCE(referenced_at, updated_at))) AS used,
                          string_agg(url, E'\\n') AS urls
                   FROM sources WHERE digest IS NOT NULL GROUP BY digest)
        SELECT o.digest, o.bytes + COALESCE(t.bytes, 0), GREATEST(o.created_at, t.written), s.used, a.last_access, s.urls, t.variants
        FROM objects o LEFT JOIN t ON t.digest = o.digest LEFT JOIN s ON s.digest = o.digest
                       LEFT JOIN access a ON a.digest = o.digest
        ORDER BY GREATEST(o.created_at, t.written, s.used, a.last_access), o.digest COLLATE "C"
        """

    static func candidates(_ session: PostgresSession, referencedURLs: ReferencedURLs?, staleBefore: Date) throws -> PruneCandidates {
        var stale = Set<String>()
        if let referencedURLs {
            for row in try session.query("""
                SELECT url FROM sources WHERE GREATEST(updated_at, COALESCE(referenced_at, updated_at)) < \(staleBefore)
                """) {
                let url = try row.decode(String.self)
                if !referencedURLs.contains(url) { stale.insert(url) }
            }
        }
        let (images, bytes) = try session.query("""
            SELECT (SELECT COUNT(*) FROM objects), (SELECT COALESCE(SUM(bytes), 0) FROM objects)::int8
                   + (SELECT COALESCE(SUM(bytes), 0) FROM thumbnails)::int8
            """).first?.decode((Int, Int).self) ?? (0, 0)
        return PruneCandidates(walk: { body in
            try session.query("DECLARE prune_candidates NO SCROLL CURSOR FOR \(unescaped: candidatesSQL)")
            defer { _ = try? session.query("CLOSE prune_candidates") }
            while true {
                let rows = try session.query("FETCH 1000 FROM prune_candidates")
                for row in rows {
                    let (digest, bytes, written, used, served, urls, variants) = try row.decode(
                        (String, Int, Date, Date?, Date?, String?, String?).self)
                    let names = variants?.split(separator: "\n") ?? []
                    var image = PruneImage(digest: digest, bytes: bytes, lastWritten: written, lastReferenced: used, lastServed: served,
                                           isReferenced: referencedURLs.map { set in
                                               (urls?.split(separator: "\n") ?? []).contains { set.contains(String($0)) }
                                           } ?? true)
                    image.thumbnails = names.count
                    image.onDemandVariants = names.filter { OnDemandVariant.isOnDemand(String($0)) }.count
                    try body(image)
                }
                if rows.count < 1000 { return }
            }
        }, staleURLs: stale, totals: (images, bytes), urls: { digests in try urls(session, ofDigests: digests) })
    }

    static func urls(_ session: PostgresSession, ofDigests digests: [String]) throws -> [String: [String]] {
        var urls: [String: [String]] = [:]
        for row in try session.query("SELECT digest, url FROM sources WHERE digest = ANY(\(digests)::text[]) ORDER BY url COLLATE \"C\"") {
            let (digest, url) = try row.decode((String, String).self)
            urls[digest, default: []].append(url)
        }
        return urls
    }

    /// Four scans, one per table, streamed (the same inventory SQLite's four cursors make).
    static func loadInventory(_ session: PostgresSession, referencedURLs: ReferencedURLs?, staleBefore: Date) throws -> PruneInventory {
        let state = Mutex(InventoryBuilder(referencing: referencedURLs != nil))
        try session.forEach("SELECT digest, bytes, created_at FROM objects") { row in
            let (digest, bytes, created) = try row.decode((String, Int, Date).self)
            state.withLock { $0.addObject(digest, bytes: bytes, written: created) }
        }
        try session.forEach("SELECT digest, bytes, created_at, variant FROM thumbnails") { row in
            let (digest, bytes, created, variant) = try row.decode((String, Int, Date, String).self)
            state.withLock { $0.addThumbnail(digest, bytes: bytes, written: created, variant: variant) }
        }
        let referenced = referencedURLs
        try session.forEach("""
            SELECT digest, url, GREATEST(updated_at, COALESCE(referenced_at, updated_at)) FROM sources WHERE digest IS NOT NULL
            """) { row in
            let (digest, url, used) = try row.decode((String, String, Date).self)
            state.withLock { $0.addURL(url, of: digest, used: used, isReferenced: referenced?.contains(url) == true) }
        }
        try session.forEach("SELECT digest, last_access FROM access") { row in
            let (digest, served) = try row.decode((String, Date).self)
            state.withLock { $0.addAccess(digest, served: served) }
        }
        var inventory = state.withLock { $0.inventory }
        if let referencedURLs {
            let stale = try session.query("""
                SELECT url FROM sources WHERE GREATEST(updated_at, COALESCE(referenced_at, updated_at)) < \(staleBefore)
                """).map { try $0.decode(String.self) }
            inventory.staleURLs = Set(stale.filter { !referencedURLs.contains($0) })
        }
        return inventory
    }

    /// Deletes whole images' rows (see `CacheIndex.deleteImages`); returns the blobs they named.
    static func deleteImages(_ session: PostgresSession, digests: [String], status: SourceStatus,
                             lastError: String?) throws -> [BlobKey] {
        guard !digests.isEmpty else { return [] }
        var keys = digests.map(BlobKey.original)
        for row in try session.query("DELETE FROM thumbnails WHERE digest = ANY(\(digests)::text[]) RETURNING key, format") {
            let (key, format) = try row.decode((String, String).self)
            keys.append(.thumbnail(key, fileExtension: (StoredFormat(rawValue: format) ?? .jpeg).fileExtension))
        }
        try session.query("""
            UPDATE sources SET digest = NULL, is_cached = FALSE, status = \(status.rawValue), etag = NULL, last_modified = NULL,
                               expires_at = NULL, last_error = \(lastError), failure_kind = NULL
            WHERE digest = ANY(\(digests)::text[])
            """)
        try session.query("DELETE FROM access WHERE digest = ANY(\(digests)::text[])")
        try session.query("DELETE FROM objects WHERE digest = ANY(\(digests)::text[])")
        return keys
    }

    public func replaceThumbnail(_ updated: ThumbnailRecord, writeFile: () throws -> Void) throws(CacheError) -> Bool {
        try transaction { session in
            try Self.holdRemovalLockShared(session)
            guard try Self.exists(session, table: "thumbnails", key: "key", value: updated.key) else { return false }
            try writeFile()
            try Self.upsert(session, updated)
            return true
        }
    }

    public func removeDamaged(originals: [String], thumbnails: [ThumbnailRecord], orphans: [BlobKey],
                              reason: String, removeFiles: ([BlobKey]) -> Int) throws(CacheError) -> [String] {
        var urls: Set<String> = []
        _ = try removingFiles(removeFiles) { session in
            let urlsOf = { (digest: String) in
                try session.query("SELECT url FROM sources WHERE digest = \(digest)").map { try $0.decode(String.self) }
            }
            for digest in originals { urls.formUnion(try urlsOf(digest)) }
            var keys = try Self.deleteImages(session, digests: originals, status: .pending, lastError: reason)
            for thumbnail in thumbnails where try Self.exists(session, table: "thumbnails", key: "key", value: thumbnail.key) {
                urls.formUnion(try urlsOf(thumbnail.digest))
                keys.append(thumbnail.blobKey)
                try session.query("UPDATE sources SET is_cached = FALSE WHERE digest = \(thumbnail.digest)")
                try session.query("DELETE FROM thumbnails WHERE key = \(thumbnail.key)")
            }
            for orphan in orphans {
                let claimed = orphan.isOriginal ? try Self.exists(session, table: "objects", key: "digest", value: orphan.name)
                                                : try Self.exists(session, table: "thumbnails", key: "key", value: orphan.name)
                if !claimed { keys.append(orphan) }
            }
            return keys
        }
        return urls.sorted()
    }

    /// One statement per batch (arrays bound once); it does not move the generation.
    public func recordAccess(_ served: [String: Date], hits: Int, misses: Int) throws(CacheError) {
        let digests = Array(served.keys), dates = Array(served.values)  // a dictionary's keys and values in the same order
        try transaction(write: false) { session in
            if !digests.isEmpty {
                try session.query("""
                    INSERT INTO access (digest, last_access) SELECT * FROM unnest(\(digests)::text[], \(dates)::timestamptz[])
                    ON CONFLICT (digest) DO UPDATE SET last_access = GREATEST(access.last_access, excluded.last_access)
                    """)
            }
            if hits > 0 { try Self.addToCounter(session, MetaKey.servedHits, hits) }
            if misses > 0 { try Self.addToCounter(session, MetaKey.servedMisses, misses) }
        }
    }
}

extension PostgresIndex: IndexStorage {}

/// What `serve` writes for a variant made on request.
extension PostgresIndex: OnDemandStorage {
    /// Under a transaction-scoped advisory lock on the variant's key (two-int key space: never
    /// the removal lock's), so replicas asked for one new variant at once render it once.
    public func makeVariant(key: String, digest: String, render: () throws -> RenderedVariant) throws(CacheError) -> VariantMade {
        if let existing = try thumbnail(key: key) { return .existing(existing) }
        return try transaction(write: false) { session in
            try session.query("SELECT pg_advisory_xact_lock(\(Self.variantLockClass), hashtext(\(key)))")
            if let existing = try session.query("SELECT \(unescaped: Self.thumbnailColumns) FROM thumbnails WHERE key = \(key)")
                .first.map(Self.thumbnail) {
                return .existing(existing)
            }
            let rendered = try render()
            try Self.holdRemovalLockShared(session)
            guard try Self.exists(session, table: "objects", key: "digest", value: digest) else { return .originalGone }
            try rendered.writeFile()
            try Self.upsert(session, rendered.record)
            return .made(rendered.record)
        }
    }

    /// The first half of the variant claims' advisory lock keys.
    static let variantLockClass: Int32 = 0x7661_7269  // "vari"
}
