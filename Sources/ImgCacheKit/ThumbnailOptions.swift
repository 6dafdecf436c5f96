import ImageCodecs
import ImageCore

/// Which format a thumbnail is written in.
public enum OutputFormat: String, Sendable, CaseIterable, Codable {
    /// JPEG for opaque images, PNG for images with any transparent pixel.
    case auto
    case jpeg
    case png
}

/// Everything that decides how a thumbnail is made.
public struct ThumbnailOptions: Hashable, Sendable {
    public var spec: ThumbnailSpec
    public var format: OutputFormat
    /// JPEG quality, 1...100.
    public var quality: Int
    public var decode: DecodeOptions
    /// Inputs larger than this are refused before they are read.
    public var maxInputBytes: Int

    public static let defaultMaxInputBytes = 50 * 1024 * 1024

    public init(spec: ThumbnailSpec = .default, format: OutputFormat = .auto, quality: Int = 80,
                decode: DecodeOptions = DecodeOptions(), maxInputBytes: Int = ThumbnailOptions.defaultMaxInputBytes) {
        self.spec = spec
        self.format = format
        self.quality = quality
        self.decode = decode
        self.maxInputBytes = maxInputBytes
    }
}
