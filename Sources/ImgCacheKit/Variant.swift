import CacheStore
import ImageCore

/// A named thumbnail size the cache keeps for every image (`thumb`, `card`, `large`), written
/// in one or more formats.
public struct Variant: Hashable, Sendable, Codable {
    public var name: String
    public var spec: ThumbnailSpec
    /// The formats written, in the order a `<picture>` offers them; the last is the `<img>`
    /// fallback every browser reads (`auto`: JPEG, or PNG for an image with transparency).
    public var formats: [OutputFormat]
    public var quality: Quality

    /// Quality settings per format (1...100). The WebP and AVIF defaults land near the JPEG
    /// default's SSIM on the benchmark photos (`bench/format_bench.py --calibrate`): at 320 px
    /// WebP 70 and AVIF 52 match JPEG 80, at 1280 px WebP 79 and AVIF 62; 75 and 57 lie between.
    public struct Quality: Hashable, Sendable, Codable {
        public var jpeg: Int
        public var webp: Int
        public var avif: Int

        public static let defaultJPEG = 80
        public static let defaultWebP = 75
        public static let defaultAVIF = 57

        public init(jpeg: Int = Quality.defaultJPEG, webp: Int = Quality.defaultWebP, avif: Int = Quality.defaultAVIF) {
            self.jpeg = jpeg
            self.webp = webp
            self.avif = avif
        }

        public func value(for format: OutputFormat) -> Int {
            switch format {
            case .webp: webp
            case .avif: avif
            case .auto, .jpeg, .png: jpeg
            }
        }
    }

    /// WebP and the fallback: AVIF costs about twice WebP's CPU (README, "Formats and colour").
    public static let defaultFormats: [OutputFormat] = [.webp, .auto]

    public init(name: String, spec: ThumbnailSpec, formats: [OutputFormat] = Variant.defaultFormats,
                quality: Quality = Quality()) {
        self.name = name
        self.spec = spec
        self.formats = formats
        self.quality = quality
    }

    /// One format only (the fallback), JPEG at `quality`.
    public init(name: String, spec: ThumbnailSpec, format: OutputFormat, quality: Int = Quality.defaultJPEG) {
        self.init(name: name, spec: spec, formats: [format], quality: Quality(jpeg: quality))
    }

    /// The defaults: `thumb` 320x320 inside, `card` 640x360 cover, `large` 1280x1280 inside,
    /// each with the WebP and AVIF qualities that match JPEG 80's SSIM at its size.
    public static let defaults: [Variant] = [
        Variant(name: "thumb", spec: ThumbnailSpec(box: Size(width: 320, height: 320), fit: .inside),
                quality: Quality(webp: 70, avif: 52)),
        Variant(name: "card", spec: ThumbnailSpec(box: Size(width: 640, height: 360), fit: .cover)),
        Variant(name: "large", spec: ThumbnailSpec(box: Size(width: 1280, height: 1280), fit: .inside),
                quality: Quality(webp: 79, avif: 62)),
    ]

    /// Bumped whenever the pipeline's output for the same input and spec changes
    /// (2: colour management converts images with a profile to sRGB).
    public static let pipelineVersion = "2"

    /// One file per format.
    public var renditions: [Rendition] {
        formats.map { Rendition(variant: name, spec: spec, format: $0, quality: quality.value(for: $0)) }
    }

    /// The fallback (the last format).
    public var fallback: Rendition { renditions[renditions.count - 1] }
}

/// One file of a variant: its spec in one format at one quality.
public struct Rendition: Hashable, Sendable {
    public var variant: String
    public var spec: ThumbnailSpec
    public var format: OutputFormat
    public var quality: Int

    /// The thumbnail key of this rendition of the original `digest`: hash(digest, spec, format,
    /// quality, pipeline version). Also the thumbnail's file name in the cache and in exports.
    public func thumbnailKey(digest: some StringProtocol) -> String {
        BlobStore.digest("\(digest)|\(specText)")
    }

    /// Everything that decides this rendition's bytes, as text (part of the thumbnail key).
    public var specText: String {
        "\(variant):\(spec.box):\(spec.fit.rawValue):\(format.rawValue):q\(quality):v\(Variant.pipelineVersion)"
    }
}

extension Array where Element == Variant {
    /// Every rendition of every variant, in order.
    public var renditions: [Rendition] { flatMap(\.renditions) }
}
