import Foundation
import GRDB

/// The SQLite index of the cache (GRDB `DatabasePool`: WAL, readers never block the writer).
/// Several imgcache processes may open one index at once; writers wait on a busy timeout.
///
/// The only code that speaks SQL: every change is one named method, one transaction, that keeps
/// the index's invariants (no row points at a file that is not stored; a URL is cached exactly
/// when its original and every configured rendition are), in the manner of GRDB's `AppDatabase`.
public final class CacheIndex: Sendable {
    /// The writer (and reader pool): private to CacheStore; everything goes through named methods.
    let database: DatabasePool
    /// Orders file removal against writers that re-use stored files (see `RemovalLock`).
    let removalLock: RemovalLock
    /// The index file.
    public let path: String

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
        self.path = path
        removalLock = RemovalLock(cacheRoot: URL(fileURLWithPath: path).deletingLastPathComponent())
        defer { close(lock) }
        while flock(lock, LOCK_EX) != 0 && errno == EINTR {}
        defer { flock(lock, LOCK_UN) }
        do {
            database = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(database)
        } catch {
            throw CacheError.database("cannot open \(path)", error)
        }
    }

    /// Opens (creating and migrating if needed) the index of the cache folder `cacheDirectory`.
    public convenience init(cacheDirectory: String) throws(CacheError) {
        try self.init(path: Self.path(inCache: cacheDirectory))
    }

    static func path(inCache cacheDirectory: String) -> String {
        URL(fileURLWithPath: cacheDirectory).appendingPathComponent("index.sqlite").path
    }

    /// Opens the index of the cache at `cacheDirectory`, which must exist already (commands
    /// that read or clean a cache never create one).
    public static func existing(inCache cacheDirectory: String) throws(CacheError) -> CacheIndex {
        let path = path(inCache: cacheDirectory)
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
        let path = path(inCache: cacheDirectory)
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
    public func integrityProblems(limit: Int) -> [String] {
        do {
            let lines = try database.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check(\(limit))") }
            return lines == ["ok"] ? [] : lines
        } catch {
            return ["\(error)"]
        }
    }

    public func refreshPlannerStatistics() {
        // An ANALYZE that samples at most 1,000 rows of each index: seconds at a million rows
        // become milliseconds, and the planner's estimates stay as good as it needs.
        _ = try? database.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA analysis_limit = 1000; ANALYZE") }
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
        migrator.registerMigration("v7: dashboard orders") { db in
            // The dashboard pages through the newest originals and the failed URLs.
            try db.create(index: "objects_created_at", on: "objects", columns: ["created_at"])
            try db.create(index: "sources_status", on: "sources", columns: ["status"])
        }
        migrator.registerMigration("v8: sync lease") { db in
            // Who holds the sync lease (the lock itself is sync.lock's flock), for the sync that waits.
            try db.create(table: "sync_lease") { t in
                t.primaryKey("id", .integer)
                t.column("host", .text).notNull()
                t.column("pid", .integer).notNull()
                t.column("since", .datetime).notNull()
            }
        }
        migrator.registerMigration("v9: animations") { db in
            // An animated original's frame count and duration, for the manifest.
            try db.alter(table: "objects") { t in
                t.add(column: "frames", .integer)
                t.add(column: "duration_ms", .integer)
            }
        }
        migrator.registerMigration("v10: failure kinds") { db in
            // The kind of a failure in its own column (it was the text before the message's first ':').
            try db.alter(table: "sources") { t in t.add(column: "failure_kind", .text) }
            try db.execute(sql: "UPDATE sources SET failure_kind = \(FailureKind.backfill(prefix: Self.errorPrefix)) WHERE status = 'failed'")
            try db.create(index: "sources_status_failure_kind", on: "sources", columns: ["status", "failure_kind"])
        }
        migrator.registerMigration("v11: seed files") { db in
            // What each seed file held when it was read, so an unchanged file is not read again.
            try db.create(table: "seed_files") { t in
                t.primaryKey("path", .text)
                t.column("size", .integer).notNull()
                t.column("modified_ns", .integer).notNull()
                t.column("sha256", .text).notNull()
                t.column("parser", .text).notNull()
                t.column("is_seed", .boolean).notNull()
                t.column("problems", .text)
                t.column("recorded_ns", .integer).notNull()
            }
            try db.alter(table: "seed_references") { t in
                t.add(column: "width", .integer)
                t.add(column: "height", .integer)
                t.add(column: "declared_cached", .boolean)
                t.add(column: "in_body", .boolean).notNull().defaults(to: false)
            }
        }
        migrator.registerMigration("v12: focal points") { db in
            // `focus: [x, y]` beside an image's url: where a cover crop is centred.
            try db.alter(table: "seed_references") { t in
                t.add(column: "focus_x", .double)
                t.add(column: "focus_y", .double)
            }
        }
        migrator.registerMigration("v14: references by url in seed order") { db in
            // A page reads the first references of each URL in seed order (a logo has one per
            // article): this B-tree hands them over in that order, and serves what `url` alone did.
            try db.create(index: "seed_references_url_path", on: "seed_references", columns: ["url", "seed_path"])
            try db.drop(index: "seed_references_url")
        }
        migrator.registerMigration("v15: dashboard search") { db in
            // URLs by a part of them: a trigram index over sources.url (its rowids are the
            // table's; triggers keep it), which a text of three characters or more is looked up in.
            try db.execute(sql: """
                CREATE VIRTUAL TABLE sources_url_search USING fts5(url, content = 'sources', content_rowid = 'rowid', tokenize = 'trigram');
                INSERT INTO sources_url_search (sources_url_search) VALUES ('rebuild');
                CREATE TRIGGER sources_url_search_insert AFTER INSERT ON sources BEGIN
                    INSERT INTO sources_url_search (rowid, url) VALUES (new.rowid, new.url);
                END;
                CREATE TRIGGER sources_url_search_delete AFTER DELETE ON sources BEGIN
                    INSERT INTO sources_url_search (sources_url_search, rowid, url) VALUES ('delete', old.rowid, old.url);
                END;
                CREATE TRIGGER sources_url_search_update AFTER UPDATE OF url ON sources WHEN old.url IS NOT new.url BEGIN
                    INSERT INTO sources_url_search (sources_url_search, rowid, url) VALUES ('delete', old.rowid, old.url);
                    INSERT INTO sources_url_search (rowid, url) VALUES (new.rowid, new.url);
                END;
                """)
            // The filters and orders of the dashboard's lists, each a B-tree in the order it is read.
            try db.execute(sql: """
                CREATE INDEX sources_status_url ON sources (status, url);
                DROP INDEX sources_status;
                CREATE INDEX sources_failed_kind_url ON sources (COALESCE(failure_kind, 'other'), url) WHERE status = 'failed';
                CREATE INDEX sources_mismatch_url ON sources (url) WHERE \(Self.mismatch);
                CREATE INDEX sources_mismatch_worst ON sources (\(Self.mismatchRatio) DESC, url) WHERE \(Self.mismatch);
                CREATE INDEX objects_recent ON objects (created_at DESC, digest);
                CREATE INDEX objects_format_recent ON objects (format, created_at DESC, digest);
                CREATE INDEX objects_animated_recent ON objects (created_at DESC, digest) WHERE frames > 1;
                """)
        }
        return migrator
    }

    /// Runs `body` in a write transaction (BEGIN IMMEDIATE; waits for other writers). Unless
    /// `bumpingGeneration` is false (the access ledger's writes), the transaction also adds one
    /// to the index's generation: readers that derive something from the index (the server's
    /// manifest) rebuild it only when the generation moved, in this process or another.
    func write<T>(bumpingGeneration: Bool = true, _ body: (Database) throws -> T) throws(CacheError) -> T {
        do {
            return try database.write { db in
                let result = try body(db)
                if bumpingGeneration { try Self.addToCounter(db, MetaKey.generation, 1) }
                return result
            }
        } catch {
            throw CacheError.database(nil, error)
        }
    }

    /// The index's generation (see `write`): changes with every write transaction but the ledger's.
    public func generation() throws(CacheError) -> Int {
        try read { db in try Self.counter(db, MetaKey.generation) }
    }

    func read<T>(_ body: (Database) throws -> T) throws(CacheError) -> T {
        do { return try database.read(body) } catch { throw CacheError.database(nil, error) }
    }
}

/// Keys of the `meta` table.
public enum MetaKey {
    public static let lastSync = "last_sync_at"
    public static let lastPrune = "last_prune_at"
    public static let lastPruneBytes = "last_prune_bytes"
    public static let servedHits = "served_hits"
    public static let servedMisses = "served_misses"
    public static let generation = "generation"
    /// The renditions fingerprint of the last finished sync (`syncedRenditions`).
    public static let syncedRenditions = "synced_renditions"
}

extension CacheIndex {
    static func setMeta(_ db: Database, _ key: String, _ value: some DatabaseValueConvertible) throws {
        try db.execute(sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                       arguments: [key, value])
    }

    static func addToCounter(_ db: Database, _ key: String, _ amount: Int) throws {
        try db.execute(sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
                       arguments: [key, amount])
    }

    static func date(_ db: Database, _ key: String) throws -> Date? {
        try Date.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key])
    }

    static func counter(_ db: Database, _ key: String) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) ?? 0
    }
}
