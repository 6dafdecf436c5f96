import Foundation
import GRDB

/// What the index knows about one source URL.
public struct SourceRecord: Codable, Hashable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "sources"
    public var url: String
    /// SHA-256 of the original currently cached for it (nil before the first success).
    public var digest: String?
    public var etag: String?
    public var lastModified: String?
    public var fetchedAt: Date?
    /// Until when the original may be used without asking the origin.
    public var expiresAt: Date?
    public var declaredWidth: Int?
    public var declaredHeight: Int?
    public var decodedWidth: Int?
    public var decodedHeight: Int?
    /// "ok", "failed" or "pending".
    public var status: String
    public var lastError: String?
    public var isCached: Bool
    public var updatedAt: Date
    /// When a sync last found the URL in a seed document (prune's "referenced" time).
    public var referencedAt: Date?

    public init(url: String, status: String = "pending", updatedAt: Date = Date()) {
        self.url = url
        self.status = status
        self.isCached = false
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case url, digest, etag, status
        case lastModified = "last_modified", fetchedAt = "fetched_at", expiresAt = "expires_at"
        case declaredWidth = "declared_width", declaredHeight = "declared_height"
        case decodedWidth = "decoded_width", decodedHeight = "decoded_height"
        case lastError = "last_error", isCached = "is_cached", updatedAt = "updated_at", referencedAt = "referenced_at"
    }
}

/// An original image, stored once per digest.
public struct ObjectRecord: Codable, Hashable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "objects"
    public var digest: String
    public var bytes: Int
    public var format: String
    public var width: Int
    public var height: Int
    public var createdAt: Date
    /// BlurHash of the image, computed once when its thumbnails are made.
    public var blurHash: String?
    /// Dominant colour, "#rrggbb".
    public var dominantColor: String?
    /// The colour profile the original carried, as decoded ("Display P3 (converted to sRGB)");
    /// nil for an image without one (taken as sRGB).
    public var colorProfile: String?

    public init(digest: String, bytes: Int, format: String, width: Int, height: Int, createdAt: Date = Date(),
                blurHash: String? = nil, dominantColor: String? = nil, colorProfile: String? = nil) {
        self.colorProfile = colorProfile
        self.digest = digest
        self.bytes = bytes
        self.format = format
        self.width = width
        self.height = height
        self.createdAt = createdAt
        self.blurHash = blurHash
        self.dominantColor = dominantColor
    }

    enum CodingKeys: String, CodingKey {
        case digest, bytes, format, width, height
        case createdAt = "created_at", blurHash = "blurhash", dominantColor = "dominant_color", colorProfile = "color_profile"
    }
}

/// A thumbnail of an original for one variant.
public struct ThumbnailRecord: Codable, Hashable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "thumbnails"
    /// hash(source digest, variant spec, pipeline version): also the file name.
    public var key: String
    public var digest: String
    public var variant: String
    public var width: Int
    public var height: Int
    public var format: String
    public var bytes: Int
    public var createdAt: Date
    /// SHA-256 of the file's bytes, recorded when it was written (nil for rows from before v5).
    public var sha256: String?

    public init(key: String, digest: String, variant: String, width: Int, height: Int, format: String, bytes: Int,
                createdAt: Date = Date(), sha256: String? = nil) {
        self.sha256 = sha256
        self.key = key
        self.digest = digest
        self.variant = variant
        self.width = width
        self.height = height
        self.format = format
        self.bytes = bytes
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case key, digest, variant, width, height, format, bytes, sha256
        case createdAt = "created_at"
    }
}

extension ThumbnailRecord {
    /// "jpg", "png", "webp" or "avif": the file extension for a stored format.
    public static func fileExtension(format: String) -> String {
        switch format {
        case "png", "webp", "avif": format
        default: "jpg"
        }
    }

    public var fileExtension: String { Self.fileExtension(format: format) }

    /// `image/jpeg`, `image/png`, `image/webp`, `image/avif`.
    public static func mediaType(format: String) -> String {
        "image/" + (["png", "webp", "avif"].contains(format) ? format : "jpeg")
    }
}

extension ObjectRecord {
    public var fileExtension: String { ThumbnailRecord.fileExtension(format: format) }
}

/// The SQLite index of the cache (GRDB `DatabasePool`: WAL, readers never block the writer).
/// Several imgcache processes may open one index at once; writers wait on a busy timeout.
public final class CacheIndex: Sendable {
    public let database: DatabasePool

    public init(path: String) throws(CacheError) {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.foreignKeysEnabled = true
        // WAL with synchronous=NORMAL: a commit survives a crashed or killed process (what the
        // cache must survive); only a power loss may drop the last commits, never corrupt the file.
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        // Two processes opening a new cache at once would both see "no migration applied" and
        // both run it: an exclusive file lock serialises opening and migrating.
        let lock = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lock >= 0 else { throw CacheError(.database, "cannot open \(path).lock: \(String(cString: strerror(errno)))") }
        defer { close(lock) }
        while flock(lock, LOCK_EX) != 0 && errno == EINTR {}
        defer { flock(lock, LOCK_UN) }
        do {
            database = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(database)
        } catch {
            throw CacheError(.database, "cannot open \(path): \(error)")
        }
    }

    /// Opens the index of the cache at `cacheDirectory`, which must exist already (commands
    /// that read or clean a cache never create one).
    public static func existing(inCache cacheDirectory: String) throws(CacheError) -> CacheIndex {
        let path = URL(fileURLWithPath: cacheDirectory).appendingPathComponent("index.sqlite").path
        guard FileManager.default.fileExists(atPath: path) else {
            throw CacheError(.io, "no cache index at \(path): run `imgcache sync` first")
        }
        try refuseLostIndex(inCache: cacheDirectory)
        return try CacheIndex(path: path)
    }

    /// Throws when the index file is empty (0 bytes) while the cache folder holds files: the
    /// index was lost or truncated, and reading it as an empty cache would hide that.
    public static func refuseLostIndex(inCache cacheDirectory: String) throws(CacheError) {
        let root = URL(fileURLWithPath: cacheDirectory)
        let path = root.appendingPathComponent("index.sqlite").path
        var info = stat()
        guard stat(path, &info) == 0, info.st_size == 0 else { return }
        let originals = countFiles(under: root.appendingPathComponent("objects").path)
        let thumbnails = countFiles(under: root.appendingPathComponent("thumbs").path)
        guard originals + thumbnails > 0 else { return }
        throw CacheError(.database, "the index \(path) is empty (0 bytes) but the cache holds \(originals) originals and "
                         + "\(thumbnails) thumbnails: the index was lost or truncated. Nothing was changed. Restore it from a "
                         + "backup, or move it aside and run `imgcache sync` to build a new one (stored files are reused by content)")
    }

    /// Regular files below `folder` (recursively), 0 when it does not exist.
    static func countFiles(under folder: String) -> Int {
        guard let enumerator = FileManager.default.enumerator(atPath: folder) else { return 0 }
        var count = 0
        while enumerator.nextObject() != nil {
            if enumerator.fileAttributes?[.type] as? FileAttributeType == .typeRegular { count += 1 }
        }
        return count
    }

    /// What SQLite's integrity check finds wrong with the index file (empty when it is sound),
    /// at most `limit` lines.
    public func integrityProblems(limit: Int = 20) -> [String] {
        do {
            let lines = try database.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check(\(limit))") }
            return lines == ["ok"] ? [] : lines
        } catch {
            return ["\(error)"]
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: objects, sources, thumbnails, seed references") { db in
            try db.create(table: "objects") { t in
                t.primaryKey("digest", .text)
                t.column("bytes", .integer).notNull()
                t.column("format", .text).notNull()
                t.column("width", .integer).notNull()
                t.column("height", .integer).notNull()
                t.column("created_at", .datetime).notNull()
            }
            try db.create(table: "sources") { t in
                t.primaryKey("url", .text)
                t.column("digest", .text).references("objects", onDelete: .setNull)
                t.column("etag", .text)
                t.column("last_modified", .text)
                t.column("fetched_at", .datetime)
                t.column("expires_at", .datetime)
                t.column("declared_width", .integer)
                t.column("declared_height", .integer)
                t.column("decoded_width", .integer)
                t.column("decoded_height", .integer)
                t.column("status", .text).notNull().defaults(to: "pending")
                t.column("last_error", .text)
                t.column("is_cached", .boolean).notNull().defaults(to: false)
                t.column("updated_at", .datetime).notNull()
            }
            try db.create(table: "thumbnails") { t in
                t.primaryKey("key", .text)
                t.column("digest", .text).notNull().indexed().references("objects", onDelete: .cascade)
                t.column("variant", .text).notNull()
                t.column("width", .integer).notNull()
                t.column("height", .integer).notNull()
                t.column("format", .text).notNull()
                t.column("bytes", .integer).notNull()
                t.column("created_at", .datetime).notNull()
            }
            try db.create(table: "seed_references") { t in
                t.column("seed_path", .text).notNull()
                t.column("url", .text).notNull()
                t.column("line", .integer)
                t.primaryKey(["seed_path", "url"])
            }
            try db.create(index: "seed_references_url", on: "seed_references", columns: ["url"])
        }
        migrator.registerMigration("v2: placeholders") { db in
            try db.alter(table: "objects") { t in
                t.add(column: "blurhash", .text)
                t.add(column: "dominant_color", .text)
            }
        }
        migrator.registerMigration("v3: access ledger") { db in
            // When each original (or one of its thumbnails) was last served: the input of
            // prune's least-recently-used eviction. Written in batches, not per request.
            try db.create(table: "access") { t in
                t.primaryKey("digest", .text)
                t.column("last_access", .datetime).notNull()
            }
        }
        migrator.registerMigration("v4: prune") { db in
            // Prune's "referenced by a sync" time; every sync stamps the URLs it found.
            try db.alter(table: "sources") { t in t.add(column: "referenced_at", .datetime) }
            // Deleting an object sets sources.digest to NULL: without an index that is a scan per object.
            try db.create(index: "sources_digest", on: "sources", columns: ["digest"])
            // Small facts: last sync and prune times, serving hit and miss counters.
            try db.create(table: "meta") { t in
                t.primaryKey("key", .text)
                t.column("value")
            }
        }
        migrator.registerMigration("v5: thumbnail hashes") { db in
            // A thumbnail's key names its recipe, not its content: without the hash of what was
            // written, verify could only compare sizes, and a flipped byte would be served as immutable.
            try db.alter(table: "thumbnails") { t in t.add(column: "sha256", .text) }
        }
        migrator.registerMigration("v6: colour profiles, formats per variant") { db in
            // Which profile an original carried (a site owner sees which images were converted).
            try db.alter(table: "objects") { t in t.add(column: "color_profile", .text) }
            // A variant now has a file per format: the manifest and the server look them up together.
            try db.create(index: "thumbnails_digest_variant", on: "thumbnails", columns: ["digest", "variant"])
        }
        return migrator
    }

    /// Runs `body` in a write transaction (BEGIN IMMEDIATE; waits for other writers). Unless
    /// `bumpingGeneration` is false (the access ledger's writes), the transaction also adds one
    /// to the index's generation: readers that derive something from the index (the server's
    /// manifest) rebuild it only when the generation moved, in this process or another.
    public func write<T>(bumpingGeneration: Bool = true, _ body: (Database) throws -> T) throws(CacheError) -> T {
        do {
            return try database.write { db in
                let result = try body(db)
                if bumpingGeneration { try Self.addToCounter(db, MetaKey.generation, 1) }
                return result
            }
        } catch {
            throw CacheError(.database, "\(error)")
        }
    }

    /// The index's generation (see `write`): changes with every write transaction but the ledger's.
    public func generation() throws(CacheError) -> Int {
        try read { db in try Self.counter(db, MetaKey.generation) }
    }

    public func read<T>(_ body: (Database) throws -> T) throws(CacheError) -> T {
        do { return try database.read(body) } catch { throw CacheError(.database, "\(error)") }
    }

    public func source(_ url: String) throws(CacheError) -> SourceRecord? {
        try read { db in try SourceRecord.fetchOne(db, key: url) }
    }

    public func thumbnails(digest: String) throws(CacheError) -> [ThumbnailRecord] {
        try read { db in try ThumbnailRecord.filter(Column("digest") == digest).fetchAll(db) }
    }

    /// Replaces every seed reference with the ones from this scan and stamps each referenced
    /// URL's `referenced_at` with `date` (one transaction), so prune's grace period protects
    /// everything a running sync is about to use.
    public func replaceSeedReferences(_ references: [(seedPath: String, url: String, line: Int)], at date: Date = Date()) throws(CacheError) {
        try write { db in
            try db.execute(sql: "DELETE FROM seed_references")
            // One row per (seed, URL), with the first line that names it: a logo on every entry
            // of 400 files is 400 rows, not 40,000 replacements.
            let statement = try db.makeStatement(sql: "INSERT OR IGNORE INTO seed_references (seed_path, url, line) VALUES (?, ?, ?)")
            var seen = Set<SeedReferenceKey>()
            for reference in references where seen.insert(SeedReferenceKey(seedPath: reference.seedPath, url: reference.url)).inserted {
                try statement.execute(arguments: [reference.seedPath, reference.url, reference.line])
            }
            try db.execute(sql: "UPDATE sources SET referenced_at = ? WHERE url IN (SELECT url FROM seed_references)", arguments: [date])
        }
    }
}

/// A URL that failed in a sync, to be recorded with others.
public struct SourceFailure: Sendable {
    public var url: String
    public var reason: String
    public var declaredWidth: Int?
    public var declaredHeight: Int?
    public init(url: String, reason: String, declaredWidth: Int?, declaredHeight: Int?) {
        self.url = url
        self.reason = reason
        self.declaredWidth = declaredWidth
        self.declaredHeight = declaredHeight
    }
}

extension CacheIndex {
    /// Records failures in one transaction: each URL's row says "failed" with the reason. A
    /// URL that another process cached meanwhile keeps its copy and its isCached.
    public func recordFailures(_ failures: [SourceFailure], at date: Date = Date()) throws(CacheError) {
        try write { db in
            let statement = try db.makeStatement(sql: """
                INSERT INTO sources (url, status, last_error, declared_width, declared_height, is_cached, updated_at, referenced_at)
                VALUES (?, 'failed', ?, ?, ?, 0, ?, ?)
                ON CONFLICT(url) DO UPDATE SET status = 'failed', last_error = excluded.last_error,
                    declared_width = excluded.declared_width, declared_height = excluded.declared_height,
                    is_cached = CASE WHEN sources.digest IS NULL THEN 0 ELSE sources.is_cached END,
                    updated_at = excluded.updated_at, referenced_at = excluded.referenced_at
                """)
            for failure in failures {
                try statement.execute(arguments: [failure.url, failure.reason, failure.declaredWidth, failure.declaredHeight, date, date])
            }
        }
    }
}

private struct SeedReferenceKey: Hashable {
    var seedPath: String
    var url: String
}

/// Keys of the `meta` table.
public enum MetaKey {
    public static let lastSync = "last_sync_at"
    public static let lastPrune = "last_prune_at"
    public static let lastPruneBytes = "last_prune_bytes"
    public static let servedHits = "served_hits"
    public static let servedMisses = "served_misses"
    public static let generation = "generation"
}

extension CacheIndex {
    public static func setMeta(_ db: Database, _ key: String, _ value: some DatabaseValueConvertible) throws {
        try db.execute(sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                       arguments: [key, value])
    }

    public static func addToCounter(_ db: Database, _ key: String, _ amount: Int) throws {
        try db.execute(sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
                       arguments: [key, amount])
    }

    public static func date(_ db: Database, _ key: String) throws -> Date? {
        try Date.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key])
    }

    public static func counter(_ db: Database, _ key: String) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) ?? 0
    }
}
