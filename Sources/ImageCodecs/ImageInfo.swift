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
    /// EXIF orientation (JPEG APP1, PNG eXIf, WebP EXIF) or AVIF's irot/imir; `.up` when absent or malformed.
    public var orientation: Orientation
    /// Frames in an animated GIF or WebP or an AVIF sequence (the first is decoded); 1 for a still image.
    public var frames: Int = 1
    /// An animation's frame durations in all (GIF: from the probe; animated WebP: from a decode); 0 for a still image.
    public var durationMilliseconds: Int = 0
    /// How many times an animation plays; 0: for ever.
    public var loopCount: Int = 0

    /// The size as displayed, once orientation is applied.
    public var orientedSize: Size { orientation.orientedSize(size) }
}

/// What colour management did to a decoded image: which description the file carried and
/// whether the pixels were converted to sRGB.
public struct ColorReport: Hashable, Sendable, Codable {
    public enum Source: String, Hashable, Sendable, Codable {
        /// Nothing: the pixels are taken as sRGB.
        case none
        /// An embedded ICC profile.
        case icc
        /// PNG cICP or AVIF nclx code points.
        case cicp
        /// PNG gAMA and/or cHRM.
        case pngChunks = "png-chunks"
        /// PNG's sRGB chunk.
        case srgbTag = "srgb-tag"
    }

    public var source: Source
    /// True when the pixels were transformed to sRGB.
    public var converted: Bool
    /// "perceptual" or "relative" when converted.
    public var intent: String?
    /// The profile's description ("Display P3", "Adobe RGB (1998)") or the tags'.
    public var description: String?
    /// Why a profile was ignored (malformed, over the size limit, chunks missing), if it was.
    public var warning: String?

    public init(source: Source = .none, converted: Bool = false, intent: String? = nil, description: String? = nil,
                warning: String? = nil) {
        self.source = source
        self.converted = converted
        self.intent = intent
        self.description = description
        self.warning = warning
    }

    /// The profile as one line for people: "Display P3 (converted)", "sRGB IEC61966-2.1".
    public var summary: String? {
        guard source != .none else { return nil }
        let name = description ?? source.rawValue
        if converted { return "\(name) (converted to sRGB)" }
        if let warning { return "\(name) (ignored: \(warning))" }
        return name
    }
}
