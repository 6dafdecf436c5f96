import Foundation
import GRDB

/// Everything the index holds about the images, read in one transaction (a consistent view):
/// what `imgcache status` and the manifest are made from.
public struct IndexContents: Sendable {
    /// Every URL, sorted.
    public var sources: [SourceRecord]
    public var objects: [String: ObjectRecord]
    /// Thumbnail rows of each digest.
    public var thumbnails: [String: [ThumbnailRecord]]
    /// The references of each URL (seed path, line, in the body or not), in seed order. A page
    /// (`IndexPaging.contentsPage`) holds the first `referencesPerURL` of each URL: a logo named by
    /// every article has as many references as there are articles.
    public var references: [String: [SeedReference]]
    /// How many references a URL has, for each URL of a page whose list was cut at `referencesPerURL`.
    public var referenceCounts: [String: Int]

    /// The most references a page reads for one URL.
    public static let referencesPerURL = 1_000

    public init(sources: [SourceRecord] = [], objects: [String: ObjectRecord] = [:], thumbnails: [String: [ThumbnailRecord]] = [:],
                references: [String: [SeedReference]] = [:], referenceCounts: [String: Int] = [:]) {
        self.sources = sources
        self.objects = objects
        self.thumbnails = thumbnails
        self.references = references
        self.referenceCounts = referenceCounts
    }

    /// How many references `url` has (all of them, not only those read).
    public func referenceCount(of url: String) -> Int {
        referenceCounts[url] ?? references[url]?.count ?? 0
    }
}

/// Aggregates for `imgcache stats`, computed in SQL (the same cost for four images or a million).
public struct IndexStatistics: Sendable {
    public struct Group: Codable, Sendable {
        public var name: String
        public var count: Int
        public var bytes: Int
    }
    public struct LargeImage: Codable, Sendable {
        public var digest: String
        /// One URL it is cached for (nil if none is any more).
        public var url: String?
        public var width: Int
        public var height: Int
        public var originalBytes: Int
        /// Original plus thumbnails.
        public var totalBytes: Int
    }
    public var urls = 0
    public var urlsByStatus: [SourceStatus: Int] = [:]
    public var urlsCached = 0
    public var originals = 0
    public var originalBytes = 0
    public var thumbnailsByVariant: [Group] = []
    public var thumbnailsByFormat: [Group] = []
    public var originalsConverted = 0
    public var hits = 0
    public var misses = 0
    public var lastSync: Date?
    public var lastPrune: Date?
    public var lastPruneBytes: Int?
    public var largest: [LargeImage] = []
}

/// Counts and times for /metrics: cheap enough for every scrape.
public struct IndexTotals: Sendable {
    public var objects = 0
    public var objectBytes = 0
    public var thumbnails = 0
    public var thumbnailBytes = 0
    public var lastSync: Date?
    public var lastPrune: Date?
}

/// Reads: none of these writes, so none needs the writer.
extension CacheIndex {
    public func source(_ url: String) throws(CacheError) -> SourceRecord? {
        try read { db in try SourceRecord.fetchOne(db, key: url) }
    }

    public func object(_ digest: String) throws(CacheError) -> ObjectRecord? {
        try read { db in try ObjectRecord.fetchOne(db, key: digest) }
    }

    public func thumbnail(key: String) throws(CacheError) -> ThumbnailRecord? {
        try read { db in try ThumbnailRecord.fetchOne(db, key: key) }
    }

    public func thumbnails(digest: String) throws(CacheError) -> [ThumbnailRecord] {
        try read { db in try ThumbnailRecord.filter(Column("digest") == digest).fetchAll(db) }
    }

    /// The thumbnail rows of `url`'s current original whose keys are among `keys`, in that order.
    public func thumbnails(url: String, keys: (String) -> [String]) throws(CacheError) -> [ThumbnailRecord] {
        try read { db in
            guard let digest = try SourceRecord.fetchOne(db, key: url)?.digest else { return [] }
            return try keys(digest).compactMap { try ThumbnailRecord.fetchOne(db, key: $0) }
        }
    }

    /// Every URL's row, by URL (sync reads them once, not once per URL).
    public func allSources() throws(CacheError) -> [String: SourceRecord] {
        try read { db in try Dictionary(SourceRecord.fetchAll(db).map { ($0.url, $0) }, uniquingKeysWith: { a, _ in a }) }
    }

    public func allThumbnails() throws(CacheError) -> [ThumbnailRecord] {
        try read { db in try ThumbnailRecord.fetchAll(db) }
    }

    /// Every original's digest and size and every thumbnail row: what `verify` checks.
    public func storedFiles() throws(CacheError) -> (objects: [(digest: String, bytes: Int)], thumbnails: [ThumbnailRecord]) {
        try read { db in
            (try Row.fetchAll(db, sql: "SELECT digest, bytes FROM objects").map { (digest: $0["digest"] as String, bytes: $0["bytes"] as Int) },
             try ThumbnailRecord.fetchAll(db))
        }
    }

    /// Sources, objects, thumbnails and seed references in one consistent read.
    public func contents() throws(CacheError) -> IndexContents {
        try read { db in
            var references: [String: [SeedReference]] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT url, seed_path, line, in_body, focus_x, focus_y FROM seed_references ORDER BY seed_path, line")
            while let row = try rows.next() {
                let url: String = row["url"]
                references[url, default: []].append(SeedReference(seedPath: row["seed_path"], url: url, line: row["line"] ?? 0,
                                                                  inBody: row["in_body"], focusX: row["focus_x"], focusY: row["focus_y"]))
            }
            return IndexContents(
                sources: try SourceRecord.order(Column("url")).fetchAll(db),
                objects: Dictionary(try ObjectRecord.fetchAll(db).map { ($0.digest, $0) }, uniquingKeysWith: { a, _ in a }),
                thumbnails: Dictionary(grouping: try ThumbnailRecord.fetchAll(db), by: \.digest),
                references: references)
        }
    }

    /// The aggregates of `imgcache stats`, with the `largest` biggest originals.
    public func statistics(largest limit: Int) throws(CacheError) -> IndexStatistics {
        try read { db in
            var stats = IndexStatistics()
            for row in try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n, COALESCE(SUM(is_cached), 0) AS c FROM sources GROUP BY status") {
                let count: Int = row["n"], cached: Int = row["c"]
                stats.urls += count
                stats.urlsCached += cached
                if let status = SourceStatus(rawValue: row["status"]) { stats.urlsByStatus[status] = count }
            }
            (stats.originals, stats.originalBytes) = try Self.countAndBytes(db, table: "objects")
            let groups = { (column: String) throws -> [IndexStatistics.Group] in
                try Row.fetchAll(db, sql: "SELECT \(column) AS name, COUNT(*) AS n, SUM(bytes) AS b FROM thumbnails GROUP BY \(column) ORDER BY \(column)")
                    .map { IndexStatistics.Group(name: $0["name"], count: $0["n"], bytes: $0["b"]) }
            }
            stats.thumbnailsByVariant = try groups("variant")
            stats.thumbnailsByFormat = try groups("format")
            stats.originalsConverted = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM objects WHERE color_profile LIKE '%(converted to sRGB)'
                """) ?? 0
            stats.hits = try Self.counter(db, MetaKey.servedHits)
            stats.misses = try Self.counter(db, MetaKey.servedMisses)
            stats.lastSync = try Self.date(db, MetaKey.lastSync)
            stats.lastPrune = try Self.date(db, MetaKey.lastPrune)
            stats.lastPruneBytes = try Int.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [MetaKey.lastPruneBytes])
            stats.largest = try Row.fetchAll(db, sql: """
                SELECT o.digest AS digest, o.width AS width, o.height AS height, o.bytes AS original,
                       o.bytes + COALESCE((SELECT SUM(bytes) FROM thumbnails t WHERE t.digest = o.digest), 0) AS total,
                       (SELECT MIN(url) FROM sources s WHERE s.digest = o.digest) AS url
                FROM objects o ORDER BY o.bytes DESC, o.digest LIMIT ?
                """, arguments: [limit]).map {
                IndexStatistics.LargeImage(digest: $0["digest"], url: $0["url"], width: $0["width"], height: $0["height"],
                                           originalBytes: $0["original"], totalBytes: $0["total"])
            }
            return stats
        }
    }

    /// Counts, bytes and the last sync and prune.
    public func totals() throws(CacheError) -> IndexTotals {
        try read { db in
            var totals = IndexTotals()
            (totals.objects, totals.objectBytes) = try Self.countAndBytes(db, table: "objects")
            (totals.thumbnails, totals.thumbnailBytes) = try Self.countAndBytes(db, table: "thumbnails")
            totals.lastSync = try Self.date(db, MetaKey.lastSync) ?? Date.fetchOne(db, sql: "SELECT MAX(updated_at) FROM sources")
            totals.lastPrune = try Self.date(db, MetaKey.lastPrune)
            return totals
        }
    }

    private static func countAndBytes(_ db: Database, table: String) throws -> (Int, Int) {
        let row = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM \(table)")
        return (row?["n"] ?? 0, row?["b"] ?? 0)
    }

    /// When the last prune ran (in any process).
    public func lastPrune() throws(CacheError) -> Date? {
        try read { db in try Self.date(db, MetaKey.lastPrune) }
    }

    /// Reads every row of every table, the text columns too (so overflow pages are read):
    /// throws when a damaged page would trip the manifest or a lookup.
    public func checkReadable() throws(CacheError) {
        _ = try read { db in
            try Int.fetchOne(db, sql: """
                SELECT (SELECT COUNT(*) FROM sources WHERE LENGTH(url) + LENGTH(COALESCE(last_error, '')) >= 0)
                     + (SELECT COUNT(*) FROM objects WHERE LENGTH(digest) >= 0)
                     + (SELECT COUNT(*) FROM thumbnails WHERE LENGTH(key) >= 0)
                """)
        }
    }

    /// Bytes the index takes on disk (the database, its WAL and shared-memory files).
    public var storageBytes: Int {
        ["", "-wal", "-shm"].compactMap { (try? FileManager.default.attributesOfItem(atPath: path + $0))?[.size] as? Int }
            .reduce(0, +)
    }
}
