import CacheStore
import Foundation
import GRDB

/// `imgcache stats`: the cache in a few numbers, in the manner of `ccache -s`. Aggregates in
/// SQL, so it costs the same for four images or a million.
public struct CacheStats: Encodable, Sendable {
    public struct VariantTotals: Codable, Sendable {
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
    public var cacheDirectory: String
    public var urls = 0
    public var imagesCached = 0
    public var imagesFailed = 0
    public var imagesPruned = 0
    public var originals = 0
    public var originalBytes = 0
    public var thumbnails = 0
    public var thumbnailBytes = 0
    public var variants: [VariantTotals] = []
    /// Thumbnails per format (`jpeg`, `png`, `webp`, `avif`).
    public var formats: [VariantTotals] = []
    /// Originals whose colour profile was converted to sRGB.
    public var originalsConverted = 0
    public var indexBytes = 0
    public var hits = 0
    public var misses = 0
    public var lastSync: Date?
    public var lastPrune: Date?
    public var lastPruneBytes: Int?
    public var largest: [LargeImage] = []

    public var totalBytes: Int { originalBytes + thumbnailBytes + indexBytes }
    public var hitRate: Double? { hits + misses == 0 ? nil : Double(hits) / Double(hits + misses) }

    enum CodingKeys: String, CodingKey {
        case cacheDirectory, urls, imagesCached, imagesFailed, imagesPruned, originals, originalBytes, thumbnails,
             thumbnailBytes, variants, formats, originalsConverted, indexBytes, hits, misses, lastSync, lastPrune, lastPruneBytes, largest
        case totalBytes, hitRate
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(cacheDirectory, forKey: .cacheDirectory)
        try c.encode(urls, forKey: .urls)
        try c.encode(imagesCached, forKey: .imagesCached)
        try c.encode(imagesFailed, forKey: .imagesFailed)
        try c.encode(imagesPruned, forKey: .imagesPruned)
        try c.encode(originals, forKey: .originals)
        try c.encode(originalBytes, forKey: .originalBytes)
        try c.encode(thumbnails, forKey: .thumbnails)
        try c.encode(thumbnailBytes, forKey: .thumbnailBytes)
        try c.encode(variants, forKey: .variants)
        try c.encode(formats, forKey: .formats)
        try c.encode(originalsConverted, forKey: .originalsConverted)
        try c.encode(indexBytes, forKey: .indexBytes)
        try c.encode(totalBytes, forKey: .totalBytes)
        try c.encode(hits, forKey: .hits)
        try c.encode(misses, forKey: .misses)
        try c.encodeIfPresent(hitRate, forKey: .hitRate)
        try c.encodeIfPresent(lastSync, forKey: .lastSync)
        try c.encodeIfPresent(lastPrune, forKey: .lastPrune)
        try c.encodeIfPresent(lastPruneBytes, forKey: .lastPruneBytes)
        try c.encode(largest, forKey: .largest)
    }

    public init(cacheDirectory: String) { self.cacheDirectory = cacheDirectory }

    /// Reads the cache at `directory` (never creates one).
    public static func load(cacheDirectory directory: String, largest limit: Int = 10) throws(CacheError) -> CacheStats {
        let index = try CacheIndex.existing(inCache: directory)
        var stats = CacheStats(cacheDirectory: directory)
        stats.indexBytes = ["", "-wal", "-shm"].compactMap {
            (try? FileManager.default.attributesOfItem(atPath: index.database.path + $0))?[.size] as? Int
        }.reduce(0, +)
        try index.read { db in
            if let row = try Row.fetchOne(db, sql: """
                SELECT COUNT(*) AS n, COALESCE(SUM(is_cached), 0) AS cached,
                       COALESCE(SUM(status = 'failed'), 0) AS failed, COALESCE(SUM(status = 'pruned'), 0) AS pruned
                FROM sources
                """) {
                stats.urls = row["n"]
                stats.imagesCached = row["cached"]
                stats.imagesFailed = row["failed"]
                stats.imagesPruned = row["pruned"]
            }
            if let row = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM objects") {
                stats.originals = row["n"]
                stats.originalBytes = row["b"]
            }
            stats.variants = try Row.fetchAll(db, sql: """
                SELECT variant, COUNT(*) AS n, SUM(bytes) AS b FROM thumbnails GROUP BY variant ORDER BY variant
                """).map { VariantTotals(name: $0["variant"], count: $0["n"], bytes: $0["b"]) }
            stats.formats = try Row.fetchAll(db, sql: """
                SELECT format, COUNT(*) AS n, SUM(bytes) AS b FROM thumbnails GROUP BY format ORDER BY format
                """).map { VariantTotals(name: $0["format"], count: $0["n"], bytes: $0["b"]) }
            stats.originalsConverted = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM objects WHERE color_profile LIKE '%(converted to sRGB)'
                """) ?? 0
            stats.thumbnails = stats.variants.reduce(0) { $0 + $1.count }
            stats.thumbnailBytes = stats.variants.reduce(0) { $0 + $1.bytes }
            stats.hits = try CacheIndex.counter(db, MetaKey.servedHits)
            stats.misses = try CacheIndex.counter(db, MetaKey.servedMisses)
            stats.lastSync = try CacheIndex.date(db, MetaKey.lastSync)
            stats.lastPrune = try CacheIndex.date(db, MetaKey.lastPrune)
            stats.lastPruneBytes = try Int.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [MetaKey.lastPruneBytes])
            stats.largest = try Row.fetchAll(db, sql: """
                SELECT o.digest AS digest, o.width AS width, o.height AS height, o.bytes AS original,
                       o.bytes + COALESCE((SELECT SUM(bytes) FROM thumbnails t WHERE t.digest = o.digest), 0) AS total,
                       (SELECT MIN(url) FROM sources s WHERE s.digest = o.digest) AS url
                FROM objects o ORDER BY o.bytes DESC, o.digest LIMIT ?
                """, arguments: [limit]).map {
                LargeImage(digest: $0["digest"], url: $0["url"], width: $0["width"], height: $0["height"],
                           originalBytes: $0["original"], totalBytes: $0["total"])
            }
        }
        return stats
    }
}
