import CacheStore
import Foundation

/// `imgcache status`: what the index says about every image URL.
public struct CacheStatus: Sendable {
    public struct VariantStatus: Codable, Sendable {
        public var name: String
        public var width: Int
        public var height: Int
        public var format: String
        public var bytes: Int
    }
    public struct Image: Codable, Sendable {
        public var url: String
        public var isCached: Bool
        public var status: String
        public var digest: String?
        public var bytes: Int?
        public var declared: String?
        public var decoded: String?
        public var fetchedAt: Date?
        public var expiresAt: Date?
        public var lastError: String?
        public var blurHash: String?
        public var dominantColor: String?
        public var variants: [VariantStatus]
    }
    /// The figures of the whole cache: from SQL aggregates, not from the images in memory.
    public struct Summary: Codable, Sendable {
        public var imagesCached = 0
        public var imagesFailed = 0
        public var originals = 0
        public var originalBytes = 0
        public var thumbnails = 0
        public var thumbnailBytes = 0
    }
    public var images: [Image]
    public var summary: Summary

    /// Reads the index of the cache at `directory` (read-only: never creates one).
    public static func load(cacheDirectory directory: String) throws(CacheError) -> CacheStatus {
        try load(Cache.open(directory: directory, for: .reading))
    }

    /// Every image in one value (a small cache; `imgcache status` walks).
    public static func load(_ cache: Cache) throws(CacheError) -> CacheStatus {
        var images: [Image] = []
        let summary = try walk(cache) { images.append($0) }
        return CacheStatus(images: images, summary: summary)
    }

    /// Each URL's status in URL order, read a page of the index at a time (what is held at once
    /// is one page, whatever the size of the cache), then the figures of the whole.
    public static func walk(_ cache: Cache, pageSize: Int = 500, _ body: (Image) throws -> Void) throws(CacheError) -> Summary {
        let index = cache.index
        let statistics = try index.statistics(largest: 0)
        let totals = try index.totals()
        do {
            try index.forEachPage(.all, limit: pageSize, references: false) { page in
                for source in page.sources { try body(image(source, in: page)) }
                return true
            }
        } catch { throw CacheError.wrapping(error) }
        return Summary(imagesCached: statistics.urlsCached, imagesFailed: statistics.urlsByStatus[.failed] ?? 0,
                       originals: totals.objects, originalBytes: totals.objectBytes,
                       thumbnails: totals.thumbnails, thumbnailBytes: totals.thumbnailBytes)
    }

    private static func image(_ source: SourceRecord, in page: IndexContents) -> Image {
        let object = source.digest.flatMap { page.objects[$0] }
        return Image(url: source.url, isCached: source.isCached, status: source.status.rawValue, digest: source.digest,
                     bytes: object?.bytes,
                     declared: size(source.declaredWidth, source.declaredHeight),
                     decoded: size(source.decodedWidth, source.decodedHeight),
                     fetchedAt: source.fetchedAt, expiresAt: source.expiresAt, lastError: source.lastError,
                     blurHash: object?.blurHash, dominantColor: object?.dominantColor,
                     variants: (source.digest.flatMap { page.thumbnails[$0] } ?? []).sorted { $0.variant < $1.variant }.map {
                         VariantStatus(name: $0.variant, width: $0.width, height: $0.height, format: $0.format.rawValue, bytes: $0.bytes)
                     })
    }

    private static func size(_ width: Int?, _ height: Int?) -> String? {
        guard let width, let height else { return nil }
        return "\(width)x\(height)"
    }
}
