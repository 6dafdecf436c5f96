import Foundation
import GRDB

/// A downloaded original and its thumbnails, whose files are stored: what `recordFetched` needs.
public struct FetchedImage: Sendable {
    public var url: String
    public var object: ObjectRecord
    public var thumbnails: [ThumbnailRecord]
    public var etag: String?
    public var lastModified: String?
    /// Until when the original may be used without asking the origin.
    public var expiresAt: Date
    public var declaredWidth: Int?
    public var declaredHeight: Int?
    /// The image's size once upright.
    public var decodedWidth: Int
    public var decodedHeight: Int

    public init(url: String, object: ObjectRecord, thumbnails: [ThumbnailRecord], etag: String?, lastModified: String?,
                expiresAt: Date, declaredWidth: Int?, declaredHeight: Int?, decodedWidth: Int, decodedHeight: Int) {
        self.url = url
        self.object = object
        self.thumbnails = thumbnails
        self.etag = etag
        self.lastModified = lastModified
        self.expiresAt = expiresAt
        self.declaredWidth = declaredWidth
        self.declaredHeight = declaredHeight
        self.decodedWidth = decodedWidth
        self.decodedHeight = decodedHeight
    }
}

/// A URL whose cached original stays (a 304, or still fresh): what changed about it.
public struct Revalidation: Sendable {
    public var url: String
    public var digest: String
    /// Thumbnails made now, whose files are stored (renditions that were missing).
    public var newThumbnails: [ThumbnailRecord] = []
    public var placeholder: (blurHash: String, dominantColor: String)?
    /// The original's colour profile, recorded if the index has none yet.
    public var colorProfile: String?
    /// New validators from a 304 (nil for an entry that was still fresh).
    public var validators: (etag: String?, lastModified: String?, expiresAt: Date)?
    public var declaredWidth: Int?
    public var declaredHeight: Int?
    public var isCached: Bool

    public init(url: String, digest: String, declaredWidth: Int?, declaredHeight: Int?, isCached: Bool) {
        self.url = url
        self.digest = digest
        self.declaredWidth = declaredWidth
        self.declaredHeight = declaredHeight
        self.isCached = isCached
    }
}

/// A URL that failed in a sync, to be recorded with others.
public struct SourceFailure: Sendable {
    public var url: String
    public var reason: String
    public var kind: FailureKind
    public var declaredWidth: Int?
    public var declaredHeight: Int?
    public init(url: String, reason: String, kind: FailureKind, declaredWidth: Int?, declaredHeight: Int?) {
        self.url = url
        self.reason = reason
        self.kind = kind
        self.declaredWidth = declaredWidth
        self.declaredHeight = declaredHeight
    }
}

/// What a sync writes: one method per transaction.
extension CacheIndex {
    /// Records a downloaded image: its original (once per digest), its thumbnails and its URL,
    /// in one transaction. `ensureFiles` runs first, under the removal lock held shared: it
    /// writes again any file a prune removed since it was stored, so no row is ever inserted
    /// for a file that is gone. `isCached` then says whether the URL is fully cached.
    /// Returns whether another URL had stored these bytes already, and the URL's isCached.
    public func recordFetched(_ image: FetchedImage, ensureFiles: () throws -> Void,
                              isCached: () -> Bool) throws(CacheError) -> (duplicate: Bool, isCached: Bool) {
        try write { db in
            try removalLock.shared(ensureFiles)
            // Writers are serialised: of two URLs with the same bytes, exactly one inserts.
            let existed = try ObjectRecord.exists(db, key: image.object.digest)
            try image.object.insert(db, onConflict: .ignore)
            for record in image.thumbnails { try record.insert(db, onConflict: .replace) }
            var source = try SourceRecord.fetchOne(db, key: image.url) ?? SourceRecord(url: image.url)
            let sameURLAgain = source.digest == image.object.digest
            source.record(image, isCached: isCached())
            try source.save(db)
            return (existed && !sameURLAgain, source.isCached)
        }
    }

    /// Records a URL whose cached original stays: new thumbnails, placeholder, colour profile,
    /// validators, isCached. With new thumbnails the original must still be indexed and
    /// `ensureFiles` (under the removal lock, shared) must find or restore their files; else
    /// this throws and nothing changes (a prune took the image: the next sync fetches it).
    public func recordRevalidated(_ update: Revalidation, ensureFiles: () throws -> Void) throws(CacheError) {
        try write { db in
            if !update.newThumbnails.isEmpty {
                guard try ObjectRecord.exists(db, key: update.digest) else {
                    throw CacheError(.io, "the original was pruned during this sync; the next sync fetches it again")
                }
                try removalLock.shared(ensureFiles)
            }
            for record in update.newThumbnails { try record.insert(db, onConflict: .replace) }
            if let placeholder = update.placeholder {
                try db.execute(sql: "UPDATE objects SET blurhash = ?, dominant_color = ? WHERE digest = ?",
                               arguments: [placeholder.blurHash, placeholder.dominantColor, update.digest])
            }
            if let profile = update.colorProfile {
                try db.execute(sql: "UPDATE objects SET color_profile = ? WHERE digest = ? AND color_profile IS NULL",
                               arguments: [profile, update.digest])
            }
            guard var source = try SourceRecord.fetchOne(db, key: update.url) else { return }
            source.record(update)
            try source.save(db)
        }
    }

    /// Records the failure of a URL that may have a copy cached: the copy stays and keeps
    /// serving; `isCached(digest, thumbnails)` says whether it is still whole. Returns the URL's
    /// isCached and digest.
    public func recordFailure(_ failure: SourceFailure, at date: Date,
                              isCached: (String, [ThumbnailRecord]) -> Bool) throws(CacheError) -> (isCached: Bool, digest: String?) {
        try write { db in
            var source = try SourceRecord.fetchOne(db, key: failure.url) ?? SourceRecord(url: failure.url)
            let thumbnails = try source.digest.map { try ThumbnailRecord.filter(Column("digest") == $0).fetchAll(db) } ?? []
            source.record(failure, at: date, isCached: source.digest.map { isCached($0, thumbnails) } ?? false)
            try source.save(db)
            return (source.isCached, source.digest)
        }
    }

    /// Records failures in one transaction: each URL's row says "failed" with the reason. A
    /// URL that another process cached meanwhile keeps its copy and its isCached.
    public func recordFailures(_ failures: [SourceFailure], at date: Date) throws(CacheError) {
        try write { db in
            let statement = try db.makeStatement(sql: """
                INSERT INTO sources (url, status, last_error, failure_kind, declared_width, declared_height, is_cached, updated_at, referenced_at)
                VALUES (?, 'failed', ?, ?, ?, ?, 0, ?, ?)
                ON CONFLICT(url) DO UPDATE SET status = 'failed', last_error = excluded.last_error, failure_kind = excluded.failure_kind,
                    declared_width = excluded.declared_width, declared_height = excluded.declared_height,
                    is_cached = CASE WHEN sources.digest IS NULL THEN 0 ELSE sources.is_cached END,
                    updated_at = excluded.updated_at, referenced_at = excluded.referenced_at
                """)
            for failure in failures {
                try statement.execute(arguments: [failure.url, failure.reason, failure.kind.rawValue, failure.declaredWidth, failure.declaredHeight,
                                                  date, date])
            }
        }
    }

    /// Records who holds the sync lease (taken by `acquireSyncLease`); no change to the contents.
    func recordSyncLease(_ holder: SyncLeaseHolder) throws(CacheError) {
        try write(bumpingGeneration: false) { db in
            try db.execute(sql: "INSERT OR REPLACE INTO sync_lease (id, host, pid, since) VALUES (1, ?, ?, ?)",
                           arguments: [holder.host, holder.pid, holder.since])
        }
    }

    /// The last recorded holder of the sync lease (the current one while a sync runs).
    public func syncLeaseHolder() throws(CacheError) -> SyncLeaseHolder? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT host, pid, since FROM sync_lease WHERE id = 1").map {
                SyncLeaseHolder(host: $0["host"], pid: $0["pid"], since: $0["since"])
            }
        }
    }
}

/// How each named write changes a URL's row: the same in every index backend.
extension SourceRecord {
    /// A downloaded image is now this URL's original.
    mutating func record(_ image: FetchedImage, isCached: Bool, at now: Date = Date()) {
        digest = image.object.digest
        etag = image.etag
        lastModified = image.lastModified
        fetchedAt = now
        expiresAt = image.expiresAt
        declaredWidth = image.declaredWidth
        declaredHeight = image.declaredHeight
        decodedWidth = image.decodedWidth
        decodedHeight = image.decodedHeight
        status = .ok
        lastError = nil
        failureKind = nil
        self.isCached = isCached
        updatedAt = now
        referencedAt = now
    }

    /// The cached original stays (a 304, or still fresh).
    mutating func record(_ update: Revalidation, at now: Date = Date()) {
        if let validators = update.validators {
            etag = validators.etag ?? etag
            lastModified = validators.lastModified ?? lastModified
            fetchedAt = now
            expiresAt = validators.expiresAt
        }
        declaredWidth = update.declaredWidth
        declaredHeight = update.declaredHeight
        status = .ok
        lastError = nil
        failureKind = nil
        isCached = update.isCached
        updatedAt = now
        referencedAt = now
    }

    /// The URL failed; a copy cached earlier stays (`isCached` says whether it is whole).
    mutating func record(_ failure: SourceFailure, at date: Date, isCached: Bool) {
        self.isCached = isCached
        status = .failed
        lastError = failure.reason
        failureKind = failure.kind
        declaredWidth = failure.declaredWidth
        declaredHeight = failure.declaredHeight
        updatedAt = date
        referencedAt = date
    }
}
