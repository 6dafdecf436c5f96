import CacheStore
import Foundation

/// `imgcache stats`: the cache in a few numbers, in the manner of `ccache -s`. Aggregates in
/// SQL, so it costs the same for four images or a million.
public struct CacheStats: Encodable, Sendable {
    /// Thumbnails of one variant or format: name, count, bytes.
    public typealias VariantTotals = IndexStatistics.Group
    /// One of the largest originals (one URL it is cached for; original plus thumbnails bytes).
    public typealias LargeImage = IndexStatistics.LargeImage
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
        try load(Cache.open(directory: directory, for: .reading), largest: limit)
    }

    public static func load(_ cache: Cache, largest limit: Int = 10) throws(CacheError) -> CacheStats {
        CacheStats(cacheDirectory: cache.configuration.cacheDirectory, cache.index.storageBytes, try cache.index.statistics(largest: limit))
    }

    init(cacheDirectory: String, _ indexBytes: Int, _ figures: IndexStatistics) {
        self.cacheDirectory = cacheDirectory
        self.indexBytes = indexBytes
        urls = figures.urls
        imagesCached = figures.urlsCached
        imagesFailed = figures.urlsByStatus[.failed] ?? 0
        imagesPruned = figures.urlsByStatus[.pruned] ?? 0
        originals = figures.originals
        originalBytes = figures.originalBytes
        variants = figures.thumbnailsByVariant
        formats = figures.thumbnailsByFormat
        originalsConverted = figures.originalsConverted
        thumbnails = variants.reduce(0) { $0 + $1.count }
        thumbnailBytes = variants.reduce(0) { $0 + $1.bytes }
        hits = figures.hits
        misses = figures.misses
        lastSync = figures.lastSync
        lastPrune = figures.lastPrune
        lastPruneBytes = figures.lastPruneBytes
        largest = figures.largest
    }
}
