import Foundation
import ImageCodecs
import ImageCore
import TestSupport
import Testing

@Suite("WebP and AVIF: decode, encode, hostile files")
struct ModernFormatTests {
    static func fixture(_ name: String) throws -> Data { try Fixtures.data("../formats/" + name) }

    static func photo() throws -> Bitmap { try ImageDecoder.decode(try Fixtures.data("../colour/srgb-twin.jpg")).bitmap }

    /// The photo with its left half fully transparent.
    static func halfTransparent() throws -> Bitmap {
        let photo = try photo()
        var bytes = [UInt8](repeating: 255, count: photo.width * photo.height * 4)
        for y in 0..<photo.height {
            for x in 0..<photo.width {
                let i = y * photo.width + x
                for c in 0..<3 { bytes[i * 4 + c] = photo.bytes[i * 3 + c] }
                if x < photo.width / 2 { bytes[i * 4 + 3] = 0 }
            }
        }
        return Bitmap(width: photo.width, height: photo.height, channels: 4, bytes: bytes)
    }

    @Test("round trips: colour within lossy noise, alpha kept", arguments: [ImageFormat.webp, .avif])
    func roundTrip(format: ImageFormat) throws {
        let photo = try Self.photo()
        let encode = { (bitmap: Bitmap) throws -> Data in
            format == .webp ? try ImageEncoder.webp(bitmap, quality: 90) : try ImageEncoder.avif(bitmap, quality: 80)
        }
        let opaque = try ImageDecoder.decode(try encode(photo))
        #expect(opaque.info.format == format && opaque.bitmap.size == photo.size && opaque.bitmap.channels == 3)
        #expect(PixelMath.meanAbsoluteDifference(opaque.bitmap, photo) < 4)
        let alpha = try ImageDecoder.decode(try encode(try Self.halfTransparent()))
        #expect(alpha.bitmap.channels == 4 && alpha.info.hasAlpha)
        let a = alpha.bitmap
        #expect(a.bytes[3] < 8 && a.bytes[(a.width - 1) * 4 + 3] > 247, "left transparent, right opaque")
        // Gray is written as colour and comes back gray.
        let gray = Bitmap(width: 40, height: 30, channels: 1, bytes: (0..<1200).map { UInt8($0 % 200) })
        let back = try ImageDecoder.decode(try encode(gray)).bitmap
        #expect(back.size == gray.size && back.channels == 3)
    }

    @Test("the fixtures decode: lossy, lossless and alpha WebP; 8- and 10-bit AVIF; AVIF with alpha",
          arguments: ["photo.webp", "alpha-lossless.webp", "alpha-lossy.webp", "photo.avif", "photo-10bit.avif", "alpha.avif"])
    func fixtures(name: String) throws {
        let data = try Self.fixture(name)
        let info = try ImageDecoder.probe(data)
        let decoded = try ImageDecoder.decode(data)
        #expect(decoded.bitmap.size == info.size)
        #expect(info.hasAlpha == name.contains("alpha") && decoded.bitmap.hasTransparency == name.contains("alpha"))
        if name.hasPrefix("photo") {
            #expect(PixelMath.meanAbsoluteDifference(decoded.bitmap, try Self.photo()) < 5)
        }
    }

    @Test("an animated WebP gives its first frame and says how many there are")
    func animation() throws {
        let decoded = try ImageDecoder.decode(try Self.fixture("animated.webp"))
        #expect(decoded.info.frames == 2)
        let means = PixelMath.channelMeans(decoded.bitmap)
        #expect(abs(means[0] - 200) < 4 && abs(means[1] - 30) < 4 && abs(means[2] - 30) < 4, "the red first frame: \(means)")
    }

    @Test("AVIF's irot is its orientation: stored 512x341, displayed 341x512")
    func rotation() throws {
        let info = try ImageDecoder.probe(try Self.fixture("rotated.avif"))
        #expect(info.orientation == .left)
        #expect(info.orientedSize == Size(width: 341, height: 512))
    }

    @Test("every cut of every WebP and AVIF fixture fails cleanly, naming a reason",
          arguments: ["photo.webp", "alpha-lossy.webp", "animated.webp", "photo.avif", "alpha.avif"])
    func truncated(name: String) throws {
        let data = try Self.fixture(name)
        for fraction in [0.02, 0.1, 0.3, 0.5, 0.8, 0.97] {
            let cut = data.prefix(max(12, Int(Double(data.count) * fraction)))
            do {
                _ = try ImageDecoder.decode(Data(cut))
                Issue.record("\(name) cut at \(cut.count) bytes decoded")
            } catch {
                #expect(!error.description.isEmpty)
                #expect([.truncated, .corrupt, .unsupported, .unsupportedFormat].contains(error.code), "\(name) at \(cut.count): \(error)")
            }
        }
    }

    @Test("a header declaring 268 megapixels is refused before any pixel memory is allocated", arguments: ["webp", "avif"])
    func bomb(format: String) throws {
        var bytes = [UInt8](try Self.fixture(format == "webp" ? "alpha-lossless.webp" : "photo.avif"))
        if format == "webp" {
            // VP8L: after the 0x2f signature, 14 bits of width - 1 and 14 of height - 1, little-endian.
            #expect(String(decoding: bytes[12..<16], as: UTF8.self) == "VP8L" && bytes[20] == 0x2F)
            let header = bytes[21..<25].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * $1.offset) }
            let patched = (header & ~((1 << 28) - 1)) | 16383 | 16383 << 14
            for i in 0..<4 { bytes[21 + i] = UInt8((patched >> (8 * i)) & 0xFF) }
        } else {
            // ispe: version/flags, then width and height as 32-bit big-endian.
            let ispe = try #require((0..<(bytes.count - 4)).first { String(decoding: bytes[$0..<($0 + 4)], as: UTF8.self) == "ispe" })
            for offset in [ispe + 8, ispe + 12] { bytes[offset..<(offset + 4)] = [0, 0, 0x3F, 0xFF] }  // 16383
        }
        #expect(throws: CodecError.self) { _ = try ImageDecoder.decode(Data(bytes)) }
        do {
            _ = try ImageDecoder.decode(Data(bytes))
        } catch {
            #expect(error.code == .tooManyPixels || error.code == .limitExceeded, "\(error)")
        }
    }
}
