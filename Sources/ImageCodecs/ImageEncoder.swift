import Foundation
import ImageCore
internal import CImageCodecs

/// Encodes bitmaps through the C shim. No metadata is written: EXIF (orientation already
/// applied), ICC and comments are all stripped.
public enum ImageEncoder {
    /// Baseline (or progressive) JPEG with optimised Huffman tables, 4:2:0 for colour.
    /// Takes gray or RGB; flatten alpha first.
    public static func jpeg(_ bitmap: Bitmap, quality: Int = 80, progressive: Bool = false) throws(CodecError) -> Data {
        guard (1...100).contains(quality) else { throw CodecError(.invalidArgument, "JPEG quality must be 1...100, not \(quality)") }
        guard bitmap.channels == 1 || bitmap.channels == 3 else {
            throw CodecError(.invalidArgument, "JPEG has no alpha channel: flatten the \(bitmap.channels)-channel bitmap first")
        }
        var buffer = ic_buffer()
        var status = ic_status()
        let code = ic_jpeg_encode(bitmap.storage.pointer, UInt32(bitmap.width), UInt32(bitmap.height),
                                  Int32(bitmap.channels), Int32(quality), progressive ? 1 : 0, &buffer, &status)
        return try finish(code, status, buffer)
    }

    /// PNG, zlib level 0...9 (default 6), adaptive filtering.
    public static func png(_ bitmap: Bitmap, compressionLevel: Int = 6) throws(CodecError) -> Data {
        guard (0...9).contains(compressionLevel) else { throw CodecError(.invalidArgument, "PNG compression level must be 0...9") }
        var buffer = ic_buffer()
        var status = ic_status()
        let code = ic_png_encode(bitmap.storage.pointer, UInt32(bitmap.width), UInt32(bitmap.height),
                                 Int32(bitmap.channels), Int32(compressionLevel), &buffer, &status)
        return try finish(code, status, buffer)
    }

    /// Lossy WebP (alpha kept), quality 1...100, libwebp's method 0...6 (4, its default,
    /// balances speed and size). Gray is written as colour.
    public static func webp(_ bitmap: Bitmap, quality: Int = 80, method: Int = 4) throws(CodecError) -> Data {
        guard (1...100).contains(quality) else { throw CodecError(.invalidArgument, "WebP quality must be 1...100, not \(quality)") }
        guard (0...6).contains(method) else { throw CodecError(.invalidArgument, "WebP method must be 0...6") }
        var buffer = ic_buffer()
        var status = ic_status()
        let code = ic_webp_encode(bitmap.storage.pointer, UInt32(bitmap.width), UInt32(bitmap.height),
                                  Int32(bitmap.channels), Int32(quality), Int32(method), &buffer, &status)
        return try finish(code, status, buffer)
    }

    /// AVIF (AV1 through libaom, 4:2:0, sRGB code points, alpha kept), quality 1...100 mapped
    /// to AV1's quantizer as libavif 1.0 does, speed 0...10 (higher is faster and larger).
    public static func avif(_ bitmap: Bitmap, quality: Int = 60, speed: Int = 8) throws(CodecError) -> Data {
        guard (1...100).contains(quality) else { throw CodecError(.invalidArgument, "AVIF quality must be 1...100, not \(quality)") }
        guard (0...10).contains(speed) else { throw CodecError(.invalidArgument, "AVIF speed must be 0...10") }
        var buffer = ic_buffer()
        var status = ic_status()
        let code = ic_avif_encode(bitmap.storage.pointer, UInt32(bitmap.width), UInt32(bitmap.height),
                                  Int32(bitmap.channels), Int32(quality), Int32(speed), &buffer, &status)
        return try finish(code, status, buffer)
    }

    private static func finish(_ code: Int32, _ status: ic_status, _ buffer: ic_buffer) throws(CodecError) -> Data {
        guard code == Int32(IC_OK), let bytes = buffer.bytes else {
            free(buffer.bytes)
            throw CodecError(ImageDecoder.errorCode(code), ImageDecoder.string(from: status.message))
        }
        return Data(bytesNoCopy: bytes, count: buffer.size, deallocator: .free)
    }
}
