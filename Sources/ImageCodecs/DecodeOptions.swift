import ImageCore

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
    /// Convert to sRGB using the embedded ICC profile, cICP or PNG gAMA/cHRM (the default).
    /// Off only to measure what conversion changes.
    public var colorManagement: Bool
    /// The largest ICC profile parsed; a larger one is ignored with a warning (JPEG's chunks are
    /// not even assembled). Real camera and print profiles are under 1 MB; 4 MB leaves room.
    public var maxProfileBytes: Int
    /// The most frames an animation may have (a frame-count bomb is refused while the file is
    /// walked, before its frames are decoded).
    public var maxFrames: Int
    /// The most pixels an animation's frames may hold in all.
    public var maxAnimationPixels: Int
    /// A vector image (SVG) is drawn whole at this size instead of its intrinsic one (checked
    /// against `maxPixels`); raster formats ignore it.
    public var renderSize: Size?

    public static let defaultMaxPixels = 50_000_000
    public static let defaultMaxFrames = 1000
    public static let defaultMaxAnimationPixels = 1_000_000_000
    public static let defaultMaxProfileBytes = 4 << 20

    public init(maxPixels: Int = DecodeOptions.defaultMaxPixels, jpegScaleDenominator: Int = 1,
                lenient: Bool = false, maxScans: Int = 100, maxWarnings: Int = 1000,
                maxChunkBytes: Int = 1 << 20, colorManagement: Bool = true,
                maxProfileBytes: Int = DecodeOptions.defaultMaxProfileBytes, maxFrames: Int = DecodeOptions.defaultMaxFrames,
                maxAnimationPixels: Int = DecodeOptions.defaultMaxAnimationPixels, renderSize: Size? = nil) {
        self.maxPixels = maxPixels
        self.jpegScaleDenominator = jpegScaleDenominator
        self.lenient = lenient
        self.maxScans = maxScans
        self.maxWarnings = maxWarnings
        self.maxChunkBytes = maxChunkBytes
        self.colorManagement = colorManagement
        self.maxProfileBytes = maxProfileBytes
        self.maxFrames = maxFrames
        self.maxAnimationPixels = maxAnimationPixels
        self.renderSize = renderSize
    }
}
