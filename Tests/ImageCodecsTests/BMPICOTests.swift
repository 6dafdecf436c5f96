import Foundation
import ImageCodecs
import ImageCore
import TestSupport
import Testing

/// BMP and ICO, read in Swift: every bit depth, compression and header kind against Pillow's
/// decode, RLE's skipped pixels transparent, ICO's largest entry (PNG or BMP with its AND mask),
/// the header checked before the canvas, damage failing cleanly. Fixtures: formats/stills/make.sh.
@Suite("BMP and ICO")
struct BMPICOTests {
    static func fixture(_ name: String) throws -> Data { try Fixtures.data("../formats/stills/" + name) }

    @Test("each BMP decodes exactly as Pillow decodes it",
          arguments: ["bits1", "bits4", "bits8", "rle8", "bits16", "bits24", "alpha", "os2", "topdown"])
    func matchesPillow(name: String) throws {
        let decoded = try ImageDecoder.decode(try Self.fixture(name + ".bmp"))
        let reference = try ImageDecoder.decode(try Self.fixture(name + ".bmp.ref.png"), options: DecodeOptions(colorManagement: false))
        #expect(decoded.info.format == .bmp && decoded.bitmap.size == reference.bitmap.size)
        #expect(decoded.bitmap.channels == (name == "alpha" ? 4 : 3), "an opaque BMP comes out RGB")
        #expect(PixelMath.rgba(decoded.bitmap) == PixelMath.rgba(reference.bitmap), "\(name): pixels differ from Pillow's")
    }

    @Test("RLE4 runs, absolute runs and a delta: the pixels the stream skips are transparent")
    func rle4() throws {
        let decoded = try ImageDecoder.decode(try Self.fixture("rle4.bmp")).bitmap
        #expect(decoded.size == Size(width: 8, height: 4) && decoded.channels == 4)
        let red: [UInt8] = [255, 0, 0, 255], green: [UInt8] = [0, 255, 0, 255], blue: [UInt8] = [0, 0, 255, 255]
        let clear: [UInt8] = [0, 0, 0, 0]
        func pixel(_ x: Int, _ y: Int) -> [UInt8] { Array(decoded.bytes[((y * 8 + x) * 4)..<((y * 8 + x) * 4 + 4)]) }
        #expect((0..<8).map { pixel($0, 3) } == (0..<4).flatMap { _ in [red, green] }, "bottom row: the run of 1 2")
        #expect((0..<8).map { pixel($0, 2) } == [blue, blue, red, green] + Array(repeating: clear, count: 4))
        #expect((0..<8).map { pixel($0, 1) } == [red, red] + Array(repeating: clear, count: 6))
        #expect((0..<8).map { pixel($0, 0) } == Array(repeating: clear, count: 8), "after the delta and the end of bitmap")
    }

    @Test("an ICO gives its largest entry, a BMP one with its AND mask or a PNG one, as Pillow does",
          arguments: [("bmp-entries", 48), ("png-entries", 32)])
    func icon(name: String, side: Int) throws {
        let data = try Self.fixture(name + ".ico")
        #expect(try ImageDecoder.probe(data).size == Size(width: side, height: side))
        let decoded = try ImageDecoder.decode(data)
        let reference = try ImageDecoder.decode(try Self.fixture(name + ".ico.ref.png"), options: DecodeOptions(colorManagement: false))
        #expect(decoded.info.format == .ico && decoded.bitmap.size == reference.bitmap.size)
        #expect(PixelMath.rgba(decoded.bitmap) == PixelMath.rgba(reference.bitmap), "\(name): pixels differ from Pillow's")
    }

    @Test("a BMP declaring 60000x60000 is refused from its header before its canvas is allocated")
    func sizeBomb() throws {
        let data = try Self.fixture("bomb-60000.bmp")
        #expect(try ImageDecoder.probe(data).size == Size(width: 60000, height: 60000))
        let error = #expect(throws: CodecError.self) { try ImageDecoder.decode(data) }
        #expect(error?.code == .tooManyPixels && error?.message.contains("60000x60000") == true, "\(String(describing: error))")
    }

    @Test("a cut BMP is truncated (a lenient decode keeps the rows that arrived); a cut ICO names its entry")
    func cut() throws {
        let error = #expect(throws: CodecError.self) { try ImageDecoder.decode(try Self.fixture("cut-bits24.bmp")) }
        #expect(error?.code == .truncated)
        let lenient = try ImageDecoder.decode(try Self.fixture("cut-bits24.bmp"), options: DecodeOptions(lenient: true))
        #expect(lenient.bitmap.size == Size(width: 64, height: 48) && lenient.warnings == 1)
        let icon = #expect(throws: CodecError.self) { try ImageDecoder.decode(try Self.fixture("cut-bmp-entries.ico")) }
        #expect(icon?.message.contains("ICO: image") == true || icon?.code == .truncated, "\(String(describing: icon))")
    }

    @Test("every single-byte corruption and every cut of each decodes or fails cleanly",
          arguments: ["bits8.bmp", "rle8.bmp", "alpha.bmp", "rle4.bmp", "bmp-entries.ico", "png-entries.ico"])
    func damaged(name: String) throws {
        let original = try Self.fixture(name)
        let positions = Array(0..<Swift.min(512, original.count)) + Array(stride(from: 512, to: original.count, by: Swift.max(1, original.count / 1500)))
        for position in positions {
            for flip: UInt8 in [0x01, 0x80, 0xFF] {
                var data = original
                data[position] ^= flip
                do {
                    let decoded = try ImageDecoder.decode(data, options: DecodeOptions(lenient: true))
                    #expect(decoded.bitmap.size == (try ImageDecoder.probe(data)).size, "\(name) byte \(position): probe and decode disagree")
                } catch {}
            }
        }
        for length in 0..<original.count {
            do { _ = try ImageDecoder.decode(original.prefix(length), options: DecodeOptions(lenient: true)) } catch {}
        }
    }
}
