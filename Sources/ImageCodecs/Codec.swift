import Foundation
import ImageCore
internal import CImageCodecs

/// The C entry points that read one format: a header probe and a full decode. Every
/// setjmp/longjmp stays inside these C functions.
struct Codec {
    typealias Probe = (UnsafePointer<UInt8>?, Int, UnsafeMutablePointer<ic_info>?, UnsafeMutablePointer<ic_status>?) -> Int32
    typealias Decode = (UnsafePointer<UInt8>?, Int, UnsafePointer<ic_decode_options>?, UnsafeMutablePointer<ic_info>?,
                        UnsafeMutablePointer<ic_image>?, UnsafeMutablePointer<ic_status>?) -> Int32
    var probe: Probe
    var decode: Decode
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
        }
    }

    /// "JPEG, PNG, WebP or AVIF": every format imgcache reads, for error messages.
    static var readableList: String {
        let names = allCases.map(\.entry.name)
        return names.count < 2 ? names.joined() : names.dropLast().joined(separator: ", ") + " or " + names.last!
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
        case .gif, .tiff, .heic, .jxl: throw CodecError(.invalidArgument, "imgcache reads \(format) but does not write it")
        }
    }
}
