import Foundation
import ImageCore
internal import CImageCodecs

/// A decoded image and what the decoder noticed on the way.
public struct DecodedImage: Sendable {
    public var bitmap: Bitmap
    public var info: ImageInfo
    /// Corrupt-data warnings the library emitted (non-zero only in lenient mode, or for
    /// warnings that do not affect the pixels).
    public var warnings: Int
    public var firstWarning: String?
    /// The colour description found and what was done with it.
    public var color: ColorReport
}

/// Probes and decodes every format of the table (`ImageFormat`) through the C shim, converting to sRGB.
public enum ImageDecoder {
    /// Reads the header only: format, size, components, progressive, orientation.
    public static func probe(_ data: Data) throws(CodecError) -> ImageInfo {
        try withBytes(data) { bytes throws(CodecError) in try probe(bytes) }
    }

    public static func probe(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> ImageInfo {
        let format = try sniff(bytes)
        return makeInfo(try format.codec.probe(bytes), format: format, bytes: bytes)
    }

    /// Decodes to 8-bit gray, gray + alpha, RGB or RGBA (CMYK and YCCK become RGB), in sRGB
    /// unless `options.colorManagement` is off.
    public static func decode(_ data: Data, options: DecodeOptions = DecodeOptions()) throws(CodecError) -> DecodedImage {
        try withBytes(data) { bytes throws(CodecError) in try decode(bytes, options: options) }
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer, options: DecodeOptions = DecodeOptions()) throws(CodecError) -> DecodedImage {
        let format = try sniff(bytes)
        let (info, image, status) = try format.codec.decode(bytes, cOptions(options))
        guard let pixels = image.pixels, image.width > 0, image.height > 0 else {
            free(image.pixels)
            throw CodecError(.corrupt, "the decoder returned an empty image")
        }
        let count = Int(image.width) * Int(image.height) * Int(image.channels)
        let bitmap = Bitmap(width: Int(image.width), height: Int(image.height), channels: Int(image.channels),
                            storage: PixelStorage(adoptingMallocBuffer: pixels, count: count))
        return DecodedImage(
            bitmap: bitmap, info: makeInfo(info, format: format, bytes: bytes),
            warnings: Int(status.warnings),
            firstWarning: status.warnings > 0 ? string(from: status.first_warning) : nil,
            color: colorReport(image.color))
    }

    /// The C shim's view of `options`.
    static func cOptions(_ options: DecodeOptions) -> ic_decode_options {
        ic_decode_options(
            max_pixels: UInt64(max(0, options.maxPixels)), scale_denom: Int32(options.jpegScaleDenominator),
            lenient: options.lenient ? 1 : 0, max_scans: Int32(options.maxScans),
            max_warnings: Int32(options.maxWarnings), max_chunk_bytes: options.maxChunkBytes,
            color_manage: options.colorManagement ? 1 : 0, max_profile_bytes: max(0, options.maxProfileBytes),
            max_frames: Int32(clamping: max(0, options.maxFrames)), max_animation_pixels: UInt64(max(0, options.maxAnimationPixels)),
            render_width: UInt32(clamping: options.renderSize?.width ?? 0), render_height: UInt32(clamping: options.renderSize?.height ?? 0))
    }

    private static func colorReport(_ color: ic_color) -> ColorReport {
        let source: ColorReport.Source
        switch color.source {
        case Int32(IC_COLOR_ICC): source = .icc
        case Int32(IC_COLOR_CICP): source = .cicp
        case Int32(IC_COLOR_GAMA_CHRM): source = .pngChunks
        case Int32(IC_COLOR_SRGB_TAG): source = .srgbTag
        default: source = .none
        }
        let description = string(from: color.description)
        let warning = string(from: color.warning)
        return ColorReport(source: source, converted: color.converted != 0,
                           intent: color.converted != 0 ? (color.intent == 0 ? "perceptual" : "relative") : nil,
                           description: description.isEmpty ? nil : description, warning: warning.isEmpty ? nil : warning)
    }

    private static func withBytes<T>(_ data: Data, _ body: (UnsafeRawBufferPointer) throws(CodecError) -> T) throws(CodecError) -> T {
        do {
            return try data.withUnsafeBytes { bytes in try body(bytes) }
        } catch let error as CodecError {
            throw error
        } catch {
            throw CodecError(.corrupt, "\(error)")
        }
    }

    private static func sniff(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> ImageFormat {
        guard bytes.count > 0, let format = ImageFormat.sniff(bytes) else {
            throw CodecError(.unsupportedFormat, "not a \(ImageFormat.readableList): \(ImageFormat.describeUnknown(bytes))")
        }
        return format
    }

    static func errorCode(_ code: Int32) -> CodecError.Code {
        switch code {
        case Int32(IC_ERR_UNSUPPORTED): return .unsupported
        case Int32(IC_ERR_TRUNCATED): return .truncated
        case Int32(IC_ERR_TOO_LARGE): return .tooManyPixels
        case Int32(IC_ERR_NO_MEMORY): return .outOfMemory
        case Int32(IC_ERR_LIMIT): return .limitExceeded
        case Int32(IC_ERR_INVALID_ARGUMENT): return .invalidArgument
        default: return .corrupt
        }
    }

    static func string<T>(from tuple: T) -> String {
        withUnsafeBytes(of: tuple) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    private static func makeInfo(_ info: ic_info, format: ImageFormat, bytes: UnsafeRawBufferPointer) -> ImageInfo {
        let colorSpace: ImageInfo.ColorSpace
        switch info.color_space {
        case Int32(IC_CS_GRAY): colorSpace = .gray
        case Int32(IC_CS_RGB): colorSpace = .rgb
        case Int32(IC_CS_YCBCR): colorSpace = .ycbcr
        case Int32(IC_CS_CMYK): colorSpace = .cmyk
        case Int32(IC_CS_YCCK): colorSpace = .ycck
        case Int32(IC_CS_PALETTE): colorSpace = .palette
        default: colorSpace = .unknown
        }
        var info = info
        if format == .png, let animation = APNG.summary(bytes) {
            (info.frames, info.loop_count, info.duration_ms) = (Int32(clamping: animation.frames), Int32(clamping: animation.plays),
                                                                Int32(clamping: animation.milliseconds))
        }
        let orientation = info.orientation > 0
            ? Orientation(rawValue: Int(info.orientation)) ?? .up
            : ExifLocator.tiffBlock(in: bytes, format: format).flatMap { ExifOrientationParser.orientation(tiff: $0) } ?? .up
        return ImageInfo(
            format: format, size: Size(width: Int(info.width), height: Int(info.height)),
            components: Int(info.components), colorSpace: colorSpace, progressive: info.progressive != 0,
            bitDepth: Int(info.bit_depth), hasAlpha: info.has_alpha != 0, adobeInverted: info.adobe_inverted != 0,
            orientation: orientation, frames: max(1, Int(info.frames)), durationMilliseconds: Int(info.duration_ms),
            loopCount: Int(info.loop_count))
    }
}
