import ImageCore

/// What an image's header says, read without decoding any pixels.
public struct ImageInfo: Hashable, Sendable {
    public enum ColorSpace: String, Hashable, Sendable {
        case gray, rgb, ycbcr, cmyk, ycck, palette, unknown
    }

    public var format: ImageFormat
    /// The stored size, as declared in the header.
    public var size: Size
    /// JPEG: components in the file; PNG: channels once expanded (palette and tRNS included).
    public var components: Int
    public var colorSpace: ColorSpace
    /// Progressive JPEG, or Adam7-interlaced PNG.
    public var progressive: Bool
    public var bitDepth: Int
    public var hasAlpha: Bool
    /// JPEG with an Adobe APP14 marker: CMYK stored inverted (Photoshop's convention).
    public var adobeInverted: Bool
    /// EXIF orientation (JPEG APP1, PNG eXIf); `.up` when absent or malformed.
    public var orientation: Orientation

    /// The size as displayed, once orientation is applied.
    public var orientedSize: Size { orientation.orientedSize(size) }
}
