import CacheStore
import Foundation

/// `imgcache status`: what the index says about every image URL.
public struct CacheStatus: Codable, Sendable {
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
    public var images: [Image]
    public var imagesCached: Int
    public var imagesFailed: Int
    public var originals: Int
    public var originalBytes: Int
    public var thumbnails: Int
    public var thumbnailBytes: Int

    /// Reads the index of the cache at `directory` (read-only: never creates one).
    public static func load(cacheDirectory directory: String) throws(CacheError) -> CacheStatus {
        try load(Cache.open(directory: directory, for: .reading))
    }

    public static func load(_ cache: Cache) throws(CacheError) -> CacheStatus {
        let index = cache.index
        let contents = try index.contents()
        let (sources, objects, thumbnails) = (contents.sources, contents.objects, contents.thumbnails)
        let images = sources.map { source in
            Image(url: source.url, isCached: source.isCached, status: source.status.rawValue, digest: source.digest,
                  bytes: source.digest.flatMap { objects[$0]?.bytes },
                  declared: size(source.declaredWidth, source.declaredHeight),
                  decoded: size(source.decodedWidth, source.decodedHeight),
                  fetchedAt: source.fetchedAt, expiresAt: source.expiresAt, lastError: source.lastError,
                  blurHash: source.digest.flatMap { objects[$0]?.blurHash },
                  dominantColor: source.digest.flatMap { objects[$0]?.dominantColor },
                  variants: (source.digest.flatMap { thumbnails[$0] } ?? []).sorted { $0.variant < $1.variant }.map {
                      VariantStatus(name: $0.variant, width: $0.width, height: $0.height, format: $0.format.rawValue, bytes: $0.bytes)
                  })
        }
        let allThumbnails = thumbnails.values.joined()
        return CacheStatus(
            images: images, imagesCached: images.filter(\.isCached).count,
            imagesFailed: sources.filter { $0.status == .failed }.count,
            originals: objects.count, originalBytes: objects.values.map(\.bytes).reduce(0, +),
            thumbnails: allThumbnails.count, thumbnailBytes: allThumbnails.map(\.bytes).reduce(0, +))
    }

    private static func size(_ width: Int?, _ height: Int?) -> String? {
        guard let width, let height else { return nil }
        return "\(width)x\(height)"
    }
}
