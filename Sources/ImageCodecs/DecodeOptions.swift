/// Limits and policies for decoding untrusted images.
public struct DecodeOptions: Hashable, Sendable {
    /// The largest width x height accepted, checked from the header before any pixel
    /// memory is allocated. Default 50 megapixels (imgproxy's default).
    public var maxPixels: Int
    /// JPEG shrink-on-load: 1, 2, 4 or 8.
    public var jpegScaleDenominator: Int
    /// Strict (false, the default): a truncated file or any corrupt-data warning is an error.
    /// Lenient (true): keep what the library could recover (a truncated JPEG's missing rows
    /// come out grey, a truncated PNG's transparent black); warnings are still counted.
    public var lenient: Bool
    /// The most scans a progressive JPEG may have (libjpeg-turbo's fuzzers use 100).
    public var maxScans: Int
    /// Lenient mode gives up after this many warnings.
    public var maxWarnings: Int
    /// The largest PNG ancillary chunk, once decompressed (text, ICC, EXIF).
    public var maxChunkBytes: Int

    public static let defaultMaxPixels = 50_000_000

    public init(maxPixels: Int = DecodeOptions.defaultMaxPixels, jpegScaleDenominator: Int = 1,
                lenient: Bool = false, maxScans: Int = 100, maxWarnings: Int = 1000,
                maxChunkBytes: Int = 1 << 20) {
        self.maxPixels = maxPixels
        self.jpegScaleDenominator = jpegScaleDenominator
        self.lenient = lenient
        self.maxScans = maxScans
        self.maxWarnings = maxWarnings
        self.maxChunkBytes = maxChunkBytes
    }
}
