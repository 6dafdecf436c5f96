import ImageCodecs
import ImageCore

/// Which format a thumbnail is written in: `auto` (JPEG for opaque images, PNG for images
/// with any transparent pixel: the fallback), or a format of the table that imgcache writes.
public struct OutputFormat: Hashable, Sendable, Codable, RawRepresentable, CaseIterable, CustomStringConvertible {
    /// The format written; nil for `auto`.
    public let format: ImageFormat?

    public init(_ format: ImageFormat?) { self.format = format }

    public static let auto = OutputFormat(nil)
    public static let jpeg = OutputFormat(.jpeg)
    public static let png = OutputFormat(.png)
    public static let webp = OutputFormat(.webp)
    public static let avif = OutputFormat(.avif)

    /// `auto`, then every format the table can write.
    public static var allCases: [OutputFormat] { [.auto] + ImageFormat.encodable.map(OutputFormat.init) }

    public var rawValue: String { format?.rawValue ?? "auto" }
    public var description: String { rawValue }

    /// `auto`, or a writable format by its name or an extension (`jpg`).
    public init?(rawValue: String) {
        if rawValue.lowercased() == "auto" { self = .auto; return }
        guard let format = ImageFormat(name: rawValue), format.entry.encoding != nil else { return nil }
        self.init(format)
    }

    /// Offered before the fallback (WebP, AVIF): what a `<picture>` lists first.
    public var isModern: Bool { format?.entry.encoding?.isModern ?? false }

    /// The file extensions this format writes (`auto` writes jpg or png).
    public var fileExtensions: [String] { format.map { [$0.fileExtension] } ?? ["jpg", "png"] }

    /// The format written for a bitmap with or without transparent pixels.
    public func resolved(transparent: Bool) -> ImageFormat { format ?? (transparent ? .png : .jpeg) }

    /// "auto, jpeg, png, webp or avif", for help texts and errors.
    public static var nameList: String {
        let names = allCases.map(\.rawValue)
        return names.dropLast().joined(separator: ", ") + " or " + (names.last ?? "")
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
    /// An animated GIF written as WebP stays animated (frames resized one at a time, timing and
    /// loop count kept); false: the first frame only. Other formats always take the first frame.
    public var animate = true

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
