import ImageCodecs
import ImageCore

/// Which format a thumbnail is written in.
public enum OutputFormat: String, Sendable, CaseIterable, Codable {
    /// JPEG for opaque images, PNG for images with any transparent pixel: the fallback.
    case auto
    case jpeg
    case png
    case webp
    case avif

    /// WebP and AVIF: the formats a `<picture>` offers before its fallback.
    public var isModern: Bool { self == .webp || self == .avif }

    /// The file extensions this format writes (`auto` writes jpg or png).
    public var fileExtensions: [String] {
        switch self {
        case .auto: ["jpg", "png"]
        case .jpeg: ["jpg"]
        case .png: ["png"]
        case .webp: ["webp"]
        case .avif: ["avif"]
        }
    }
}

/// Everything that decides how a thumbnail is made.
public struct ThumbnailOptions: Hashable, Sendable {
    public var spec: ThumbnailSpec
    public var format: OutputFormat
    /// The format's quality, 1...100.
    public var quality: Int
    public var decode: DecodeOptions
    /// Inputs larger than this are refused before they are read.
    public var maxInputBytes: Int

    public static let defaultMaxInputBytes = 50 * 1024 * 1024
    /// libwebp's method (0...6): 4 is its default and vips's.
    public static let webpMethod = 4
    /// libaom's speed through libavif (0...10). 6 (libavif's default) rather than 8: at 320 px
    /// AVIF's bytes at equal SSIM go from 1.11x vips's to 1.04x for 1.5x the time, still under
    /// 0.4x vips's (bench/format_bench.py).
    public static let avifSpeed = 6

    public init(spec: ThumbnailSpec = .default, format: OutputFormat = .auto, quality: Int = 80,
                decode: DecodeOptions = DecodeOptions(), maxInputBytes: Int = ThumbnailOptions.defaultMaxInputBytes) {
        self.spec = spec
        self.format = format
        self.quality = quality
        self.decode = decode
        self.maxInputBytes = maxInputBytes
    }
}
