import Foundation
import ImageCodecs
import ImageCore
import TestSupport
import Testing

@Suite("Encoders")
struct EncoderTests {
    static func pattern(width: Int, height: Int, channels: Int) -> Bitmap {
        Bitmap(width: width, height: height, channels: channels,
               bytes: (0..<(width * height * channels)).map { UInt8(($0 * 7 + $0 / 13) % 256) })
    }

    @Test("PNG round-trips every channel layout exactly", arguments: [1, 2, 3, 4])
    func pngRoundTrip(channels: Int) throws {
        let bitmap = Self.pattern(width: 37, height: 11, channels: channels)
        let decoded = try ImageDecoder.decode(try ImageEncoder.png(bitmap))
        #expect(decoded.bitmap.channels == channels)
        #expect(decoded.bitmap.bytes == bitmap.bytes)
    }

    @Test("JPEG round-trips a photo closely, without metadata", arguments: [1, 3])
    func jpegRoundTrip(channels: Int) throws {
        let source = try ImageDecoder.decode(try Fixtures.data("jpeg/baseline/nuke-baseline.jpeg")).bitmap
        let bitmap = channels == 3 ? source : Bitmap(width: source.width, height: source.height, channels: 1,
                                                     bytes: stride(from: 0, to: source.bytes.count, by: 3).map { source.bytes[$0] })
        let encoded = try ImageEncoder.jpeg(bitmap, quality: 90)
        let decoded = try ImageDecoder.decode(encoded)
        #expect(decoded.bitmap.channels == channels)
        #expect(PixelMath.meanAbsoluteDifference(decoded.bitmap, bitmap) < 4)
        // No APP1 (EXIF/XMP) or APP2 (ICC) segment is written.
        let bytes = [UInt8](encoded)
        #expect(!zip(bytes, bytes.dropFirst()).contains { $0 == 0xFF && ($1 == 0xE1 || $1 == 0xE2) })
    }

    @Test("higher quality makes larger files")
    func qualityMatters() throws {
        let bitmap = try ImageDecoder.decode(try Fixtures.data("jpeg/baseline/nuke-baseline.jpeg")).bitmap
        #expect(try ImageEncoder.jpeg(bitmap, quality: 95).count > ImageEncoder.jpeg(bitmap, quality: 50).count)
    }

    @Test("bad arguments are errors, not traps")
    func badArguments() {
        let rgba = Self.pattern(width: 4, height: 4, channels: 4)
        #expect(throws: CodecError.self) { try ImageEncoder.jpeg(rgba) }
        #expect(throws: CodecError.self) { try ImageEncoder.jpeg(Self.pattern(width: 4, height: 4, channels: 3), quality: 0) }
        #expect(throws: CodecError.self) { try ImageEncoder.png(rgba, compressionLevel: 10) }
    }
}
