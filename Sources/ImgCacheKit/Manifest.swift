import CacheStore
import Foundation
import GRDB

/// The JSON a site build reads: for every image URL, whether it is cached, its sizes, its
/// placeholder and, per variant, where the thumbnail is and how big it is. `images` is keyed
/// by the original URL, so a template looks an image up by the url in its front matter.
public struct Manifest: Codable, Sendable, Equatable {
    public struct Dimensions: Codable, Sendable, Equatable {
        public var width: Int
        public var height: Int

        public init(width: Int, height: Int) {
            self.width = width
            self.height = height
        }
    }
    public struct PlaceholderInfo: Codable, Sendable, Equatable {
        public var blurhash: String
        public var color: String
    }
    public struct VariantInfo: Codable, Sendable, Equatable {
        public var url: String
        public var width: Int
        public var height: Int
        public var bytes: Int
        public var format: String
    }
    public struct Image: Codable, Sendable, Equatable {
        public var isCached: Bool
        public var declared: Dimensions?
        /// The image's own displayed size.
        public var width: Int?
        public var height: Int?
        public var placeholder: PlaceholderInfo?
        public var variants: [String: VariantInfo]
        /// Seed files that reference the URL.
        public var seeds: [String]
    }

    public var images: [String: Image]
    /// On a page (`limit`): the cursor for the next page (`after`), absent on the last one.
    public var next: String?

    public init(images: [String: Image], next: String? = nil) {
        self.images = images
        self.next = next
    }

    /// The images one seed file references (`seed` names it, or the end of its path).
    public static func references(_ image: Image, seed: String) -> Bool {
        image.seeds.contains { $0 == seed || $0.hasSuffix("/" + seed) }
    }

    /// A page of this manifest: URLs in sorted order after `after`, at most `limit`, of the
    /// seed `seed` when given; `next` names the cursor of the next page.
    /// `sortedURLs`, when given, is `images.keys.sorted()` made once by the caller.
    public func page(seed: String?, after: String?, limit: Int?, sortedURLs: [String]? = nil) -> Manifest {
        var urls = sortedURLs ?? images.keys.sorted()
        if let after { urls = Array(urls[(urls.firstIndex { $0 > after } ?? urls.endIndex)...]) }
        if let seed { urls = urls.filter { Self.references(images[$0]!, seed: seed) } }
        var next: String?
        if let limit, urls.count > limit {
            urls = Array(urls.prefix(limit))
            next = urls.last
        }
        return Manifest(images: Dictionary(uniqueKeysWithValues: urls.map { ($0, images[$0]!) }), next: next)
    }

    /// Builds the manifest from the cache's index. `fileURL` names where each thumbnail is
    /// published; only the configured variants are listed. `seed` keeps the URLs one seed
    /// file references.
    public static func build(index: CacheIndex, variants: [Variant], seed: String? = nil,
                             fileURL: (ThumbnailRecord) -> String) throws(CacheError) -> Manifest {
        let variantNames = Set(variants.map(\.name))
        return try index.read { db in
            var references: [String: [String]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT url, seed_path FROM seed_references ORDER BY seed_path") {
                references[row["url"], default: []].append(row["seed_path"])
            }
            let objects = Dictionary(try ObjectRecord.fetchAll(db).map { ($0.digest, $0) }, uniquingKeysWith: { a, _ in a })
            let thumbnails = Dictionary(grouping: try ThumbnailRecord.fetchAll(db), by: \.digest)
            var images: [String: Image] = [:]
            for source in try SourceRecord.fetchAll(db) {
                let seeds = references[source.url] ?? []
                if let seed, !seeds.contains(where: { $0 == seed || $0.hasSuffix("/" + seed) }) { continue }  // as `references`
                let object = source.digest.flatMap { objects[$0] }
                var published: [String: VariantInfo] = [:]
                for record in source.digest.flatMap({ thumbnails[$0] }) ?? [] where variantNames.contains(record.variant) {
                    published[record.variant] = VariantInfo(url: fileURL(record), width: record.width, height: record.height,
                                                            bytes: record.bytes, format: record.format)
                }
                images[source.url] = Image(
                    isCached: source.isCached,
                    declared: source.declaredWidth.flatMap { w in source.declaredHeight.map { Dimensions(width: w, height: $0) } },
                    width: source.decodedWidth, height: source.decodedHeight,
                    placeholder: object.flatMap { o in o.blurHash.flatMap { b in o.dominantColor.map { PlaceholderInfo(blurhash: b, color: $0) } } },
                    variants: published, seeds: seeds)
            }
            return Manifest(images: images)
        }
    }

    /// Stable, human-readable JSON (sorted keys), so an unchanged cache gives identical bytes.
    public func json() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return ((try? encoder.encode(self)) ?? Data("{}".utf8)) + Data("\n".utf8)
    }
}
