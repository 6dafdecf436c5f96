import Foundation
import ImageCore
internal import CImageCodecs

/// How one format is read: a header probe and a full decode. Most formats are C entry points of
/// the shim (every setjmp/longjmp stays inside them); BMP and ICO are read by bounds-checked Swift
/// (`SwiftCodec`) behind the same two calls.
struct Codec {
    typealias CProbe = (UnsafePointer<UInt8>?, Int, UnsafeMutablePointer<ic_info>?, UnsafeMutablePointer<ic_status>?) -> Int32
    typealias CDecode = (UnsafePointer<UInt8>?, Int, UnsafePointer<ic_decode_options>?, UnsafeMutablePointer<ic_info>?,
                         UnsafeMutablePointer<ic_image>?, UnsafeMutablePointer<ic_status>?) -> Int32
    /// The header: size, components, orientation, frames. Never allocates pixel memory.
    var probe: (UnsafeRawBufferPointer) throws(CodecError) -> ic_info
    /// The pixels (malloc'd, owned by the caller) and the warnings the decoder recovered from.
    var decode: (UnsafeRawBufferPointer, ic_decode_options) throws(CodecError) -> (ic_info, ic_image, ic_status)

    /// A format read by the C shim.
    init(probe: @escaping CProbe, decode: @escaping CDecode) {
        self.probe = { bytes throws(CodecError) in
            var info = ic_info()
            var status = ic_status()
            try Codec.check(probe(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, &info, &status), status)
            return info
        }
        self.decode = { bytes, options throws(CodecError) in
            var options = options
            var info = ic_info()
            var image = ic_image()
            var status = ic_status()
            let code = decode(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, &options, &info, &image, &status)
            try Codec.check(code, status)
            return (info, image, status)
        }
    }

    /// A format read by the C shim once `screen` has passed its bytes (SVG's markup checks).
    init(screened screen: @escaping (UnsafeRawBufferPointer) throws(CodecError) -> Void,
         probe: @escaping CProbe, decode: @escaping CDecode) {
        let unscreened = Codec(probe: probe, decode: decode)
        self.probe = { bytes throws(CodecError) in
            try screen(bytes)
            return try unscreened.probe(bytes)
        }
        self.decode = { bytes, options throws(CodecError) in
            try screen(bytes)
            return try unscreened.decode(bytes, options)
        }
    }

    /// A format read in Swift.
    init(swift codec: any SwiftCodec.Type) {
        self.probe = { bytes throws(CodecError) in try codec.probe(bytes) }
        self.decode = { bytes, options throws(CodecError) in
            let (info, image, warning) = try codec.decode(bytes, options: options)
            var status = ic_status()
            if let warning {
                status.warnings = 1
                withUnsafeMutableBytes(of: &status.first_warning) { out in
                    let text = Array(warning.utf8.prefix(out.count - 1))
                    out.copyBytes(from: text)
                    out[text.count] = 0
                }
            }
            return (info, image, status)
        }
    }

    /// A C entry point's status as a thrown error.
    static func check(_ code: Int32, _ status: ic_status) throws(CodecError) {
        guard code != Int32(IC_OK) else { return }
        var message = ImageDecoder.string(from: status.message)
        if message.isEmpty { message = "the decoder failed without a message" }
        throw CodecError(ImageDecoder.errorCode(code), message)
    }
}

/// A decoder written in Swift: the header read with bounds checks, pixels into a malloc'd buffer
/// (allocated only after the size is checked against `options.max_pixels`).
protocol SwiftCodec {
    static func probe(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> ic_info
    /// The image, and a warning when a lenient decode kept a damaged file's partial pixels.
    static func decode(_ bytes: UnsafeRawBufferPointer, options: ic_decode_options) throws(CodecError) -> (ic_info, ic_image, String?)
}

extension ImageFormat {
    /// The decoder of each format in the table (a format the table lists is one case here).
    var codec: Codec {
        switch self {
        case .jpeg: Codec(probe: ic_jpeg_probe, decode: ic_jpeg_decode)
        case .png: Codec(probe: ic_png_probe, decode: ic_png_decode)
        case .webp: Codec(probe: ic_webp_probe, decode: ic_webp_decode)
        case .avif: Codec(probe: ic_avif_probe, decode: ic_avif_decode)
        case .gif: Codec(probe: ic_gif_probe, decode: ic_gif_decode)
        case .tiff: Codec(probe: ic_tiff_probe, decode: ic_tiff_decode)
        case .heic: Codec(probe: ic_heif_probe, decode: ic_heif_decode)
        case .jxl: Codec(probe: ic_jxl_probe, decode: ic_jxl_decode)
        case .bmp: Codec(swift: BMPCodec.self)
        case .ico: Codec(swift: ICOCodec.self)
        case .svg: Codec(screened: SVGScreen.check, probe: ic_svg_probe, decode: ic_svg_decode)
        }
    }

    /// "JPEG, PNG, WebP or AVIF": every format imgcache reads, for error messages.
    static var readableList: String {
        let names = allCases.map(\.entry.name)
        return names.count < 2 ? names.joined() : names.dropLast().joined(separator: ", ") + " or " + (names.last ?? "")
    }
}

extension ImageEncoder {
    /// `bitmap` in `format` at `quality` (ignored by formats without one), with the encoder
    /// settings imgcache uses (WebP method 4, AVIF speed `avifSpeed`); alpha must already be
    /// flattened for a format without it.
    public static func encode(_ bitmap: Bitmap, as format: ImageFormat, quality: Int?, webpMethod: Int = 4,
                              avifSpeed: Int = 6) throws(CodecError) -> Data {
        let quality = quality ?? format.entry.encoding?.defaultQuality ?? 80
        switch format {
        case .jpeg: return try jpeg(bitmap, quality: quality)
        case .png: return try png(bitmap)
        case .webp: return try webp(bitmap, quality: quality, method: webpMethod)
        case .avif: return try avif(bitmap, quality: quality, speed: avifSpeed)
        case .gif, .tiff, .heic, .jxl, .bmp, .ico, .svg: throw CodecError(.invalidArgument, "imgcache reads \(format) but does not write it")
        }
    }
}
