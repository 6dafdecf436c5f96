import CacheStore
import Foundation

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
    /// One file of a variant.
    public struct FormatInfo: Codable, Sendable, Equatable {
        public var url: String
        /// The media type: `image/avif`, `image/webp`, `image/jpeg`, `image/png`.
        public var type: String
        public var width: Int
        public var height: Int
        public var bytes: Int
    }
    /// A variant: its fallback file (url, size, format: what every browser reads) and every
    /// format in the order a `<picture>` offers them, the fallback last.
    public struct VariantInfo: Codable, Sendable, Equatable {
        public var url: String
        public var width: Int
        public var height: Int
        public var bytes: Int
        public var format: String
        public var formats: [FormatInfo]
    }
    /// A `srcset` of on-demand variants in one format (`srcsetWidths`).
    public struct SrcsetInfo: Codable, Sendable, Equatable {
        /// The media type, for a `<source type>`.
        public var type: String
        /// `<url> <width>w, …`, the widths the image is wide enough for.
        public var srcset: String
    }
    public struct Image: Codable, Sendable, Equatable {
        public var isCached: Bool
        public var declared: Dimensions?
        /// The image's own displayed size.
        public var width: Int?
        public var height: Int?
        public var placeholder: PlaceholderInfo?
        /// The original's colour profile ("Display P3 (converted to sRGB)"), absent for sRGB without one.
        public var colorProfile: String?
        /// An animation (absent for a still image): its WebP variants are animated, the other
        /// formats show the first frame. `duration` is in milliseconds, one loop.
        public var animated: Bool?
        public var frames: Int?
        public var duration: Int?
        public var variants: [String: VariantInfo]
        /// `focus: [x, y]` from the first listed seed that gives one: where a `cover` crop (`g:fp:x:y`) centres.
        public var focus: [Double]?
        /// On-demand variants at `srcsetWidths`, one entry per format (WebP, then the
        /// fallback); absent when no widths are configured or the image is not cached.
        public var srcset: [SrcsetInfo]?
        /// Seed files that reference the URL (the first 1,000 in path order: see `placeCount`).
        public var seeds: [String]
        /// Where: each seed file with the first line that names the URL, and `body` for an image
        /// of the article's body (`bodyImages`), not of its front matter.
        public var places: [Place]?
        /// For an image with more places than the manifest lists (a logo every article shows),
        /// how many there are; `seeds` and `places` then hold the first
        /// `IndexContents.referencesPerURL` in path order. Absent when they list them all.
        public var placeCount: Int?
    }
    public struct Place: Codable, Sendable, Equatable {
        public var seed: String
        public var line: Int
        public var body: Bool?
    }

    public var images: [String: Image]
    /// On a page (`limit`): the cursor for the next page (`after`), absent on the last one.
    public var next: String?

    public init(images: [String: Image], next: String? = nil) {
        self.images = images
        self.next = next
    }

    /// The manifest of the whole index in one value: one read of everything, for a small cache
    /// (tests compare the streamed manifest with it). What serves or exports a manifest streams it.
    public static func build(index: any IndexStorage, variants: [Variant], seed: String? = nil, srcset: VariantURLs? = nil,
                             fileURL: (ThumbnailRecord) -> String) throws(CacheError) -> Manifest {
        build(contents: try index.contents(), variants: variants, seed: seed, srcset: srcset, fileURL: fileURL)
    }

    /// Builds the manifest from one read of the whole index (`contents()`): what the streamed
    /// manifest (`ManifestWriter`) writes page by page, in one value. `seed` keeps the URLs of
    /// the seed files that path names (as `SeedScope.file`, exact path or the end of one).
    public static func build(contents: IndexContents, variants: [Variant], seed: String? = nil, srcset: VariantURLs? = nil,
                             fileURL: (ThumbnailRecord) -> String) -> Manifest {
        var images: [String: Image] = [:]
        let exact = seed.map { seed in contents.references.values.contains { $0.contains { $0.seedPath == seed } } } ?? false
        for (url, image) in Self.images(of: contents, variants: variants, srcset: srcset, fileURL: fileURL) {
            if let seed, !image.seeds.contains(where: { exact ? $0 == seed : $0.hasSuffix("/" + seed) }) { continue }
            images[url] = image
        }
        return Manifest(images: images)
    }

    /// The manifest entry of every URL of `contents` (a page or the whole index), in its order.
    public static func images(of contents: IndexContents, variants: [Variant], srcset: VariantURLs?,
                              fileURL: (ThumbnailRecord) -> String) -> [(url: String, image: Image)] {
        let (references, objects, thumbnails) = (contents.references, contents.objects, contents.thumbnails)
        return contents.sources.map { source in
            let listed = (references[source.url] ?? []).prefix(IndexContents.referencesPerURL)
            let places = listed.map { Place(seed: $0.seedPath, line: $0.line, body: $0.inBody ? true : nil) }
            let count = contents.referenceCount(of: source.url)
            let object = source.digest.flatMap { objects[$0] }
            let records = source.digest.flatMap { thumbnails[$0] } ?? []
            let published = source.digest.map { publishedVariants(variants, digest: $0, records: records, fileURL: fileURL) } ?? [:]
            return (source.url, Image(
                isCached: source.isCached,
                declared: source.declaredWidth.flatMap { w in source.declaredHeight.map { Dimensions(width: w, height: $0) } },
                width: source.decodedWidth, height: source.decodedHeight,
                placeholder: object.flatMap { o in o.blurHash.flatMap { b in o.dominantColor.map { PlaceholderInfo(blurhash: b, color: $0) } } },
                colorProfile: object?.colorProfile, animated: object?.frames.map { _ in true }, frames: object?.frames,
                duration: object?.durationMilliseconds, variants: published,
                focus: listed.lazy.compactMap(\.focus).first.map { [$0.x, $0.y] },
                srcset: object.flatMap { o in srcset.map { $0.srcsets(digest: o.digest, width: o.width, original: o.format) } }
                    .flatMap { $0.isEmpty ? nil : $0 },
                seeds: places.map(\.seed), places: places.isEmpty ? nil : places,
                placeCount: count > places.count ? count : nil))
        }
    }

    /// The configured variants of one original, each with its formats, from its thumbnail rows
    /// (matched by key: a row of an older recipe is not listed).
    static func publishedVariants(_ variants: [Variant], digest: String, records: [ThumbnailRecord],
                          fileURL: (ThumbnailRecord) -> String) -> [String: VariantInfo] {
        guard !records.isEmpty else { return [:] }
        let byKey = Dictionary(records.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        var published: [String: VariantInfo] = [:]
        for variant in variants {
            let files = variant.renditions.compactMap { byKey[$0.thumbnailKey(digest: digest)] }
            guard let fallback = byKey[variant.fallback.thumbnailKey(digest: digest)] else { continue }
            published[variant.name] = VariantInfo(
                url: fileURL(fallback), width: fallback.width, height: fallback.height, bytes: fallback.bytes,
                format: fallback.format.rawValue,
                formats: files.map { FormatInfo(url: fileURL($0), type: $0.format.mediaType,
                                                width: $0.width, height: $0.height, bytes: $0.bytes) })
        }
        return published
    }

    /// Stable, human-readable JSON (sorted keys), so an unchanged cache gives identical bytes.
    public func json() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return ((try? encoder.encode(self)) ?? Data("{}".utf8)) + Data("\n".utf8)
    }
}
