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
    /// An animated source (a GIF) gets an animated file in formats that can hold one (WebP);
    /// false: the first frame only (`animate: false` in the configuration).
    public var animate = true

    /// Quality settings per format (1...100). The WebP and AVIF defaults land near the JPEG
    /// default's SSIM on the benchmark photos (`bench/format_bench.py --calibrate`): at 320 px
    /// WebP 70 and AVIF 52 match JPEG 80, at 1280 px WebP 79 and AVIF 62; 75 and 57 lie between.
    public struct Quality: Hashable, Sendable, Codable {
        /// By the table's quality key (`jpeg`, `webp`, `avif`); a format not named here takes
        /// its default from the table.
        public var values: [String: Int]

        public static let defaultJPEG = ImageFormat.jpeg.entry.encoding?.defaultQuality ?? 80

        public init(_ values: [String: Int] = [:]) { self.values = values }

        public init(jpeg: Int? = nil, webp: Int? = nil, avif: Int? = nil) {
            values = [:]
            if let jpeg { values["jpeg"] = jpeg }
            if let webp { values["webp"] = webp }
            if let avif { values["avif"] = avif }
        }

        /// The quality `format` is written at (`auto` and PNG: the JPEG key's, as the fallback is JPEG).
        public func value(for format: OutputFormat) -> Int {
            let encoding = (format.format ?? .jpeg).entry.encoding
            guard let key = encoding?.qualityKey else { return values["jpeg"] ?? Self.defaultJPEG }
            return values[key] ?? encoding?.defaultQuality ?? Self.defaultJPEG
        }

        /// The keys a variant's `quality:` map may name.
        public static var keys: [String] { ImageFormat.encodable.compactMap(\.entry.encoding?.qualityKey) }

        /// The quality of every key, defaults filled in: two settings are equal when they write alike.
        public var effective: [String: Int] {
            Dictionary(uniqueKeysWithValues: ImageFormat.encodable.compactMap { format in
                format.entry.encoding?.qualityKey.map { ($0, value(for: OutputFormat(format))) }
            })
        }

        public static func == (a: Quality, b: Quality) -> Bool { a.effective == b.effective }
        public func hash(into hasher: inout Hasher) { hasher.combine(effective) }
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
        formats.map { Rendition(variant: name, spec: spec, format: $0, quality: quality.value(for: $0), animate: animate) }
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
    public var animate = true

    /// The thumbnail key of this rendition of the original `digest`: hash(digest, spec, format,
    /// quality, pipeline version). Also the thumbnail's file name in the cache and in exports.
    public func thumbnailKey(digest: some StringProtocol) -> String {
        BlobStore.digest("\(digest)|\(specText)")
    }

    /// Everything that decides this rendition's bytes, as text (part of the thumbnail key).
    public var specText: String {
        "\(variant):\(spec.box):\(spec.fit.rawValue):\(format.rawValue):q\(quality):v\(Variant.pipelineVersion)"
            + (animate ? "" : ":still") + (spec.gravity == .center ? "" : ":g\(spec.gravity)")
    }
}

extension Array where Element == Variant {
    /// Every rendition of every variant, in order.
    public var renditions: [Rendition] { flatMap(\.renditions) }
}
