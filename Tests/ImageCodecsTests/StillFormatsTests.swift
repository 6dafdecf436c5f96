import Foundation
import ImageCodecs
import ImageCore
import TestSupport
import Testing

/// TIFF (libtiff), HEIC (libheif) and JPEG XL (libjxl): each decodes to the pixels of the image it
/// was made from, keeps alpha, orientation and colour, checks its header against the limits before
/// any pixel memory, and fails cleanly on damage. Fixtures: Tests/Fixtures/formats/stills/make.sh.
@Suite("TIFF, HEIC and JPEG XL")
struct StillFormatsTests {
    static func fixture(_ name: String) throws -> Data { try Fixtures.data("../formats/stills/" + name) }

    static func decode(_ name: String, colorManagement: Bool = true) throws -> DecodedImage {
        try ImageDecoder.decode(try fixture(name), options: DecodeOptions(colorManagement: colorManagement))
    }

    /// The 64x48 RGB picture every lossless and lossy sample here was made from. Pixels are compared
    /// as stored (colour management off on both sides): cjxl turned the PNG's gAMA 0.45455 into a
    /// gamma-2.2 profile, which imgcache converts, while a PNG's gAMA 0.45455 is taken as sRGB.
    static func hopper() throws -> Bitmap { try decode("hopper.png", colorManagement: false).bitmap }

    @Test("each decodes to the picture it was made from: lossless ones within rounding, lossy ones closely",
          arguments: [("strips.tiff", ImageFormat.tiff, 0.5), ("tiled.tiff", .tiff, 0.5), ("16bit.tiff", .tiff, 0.5),
                      ("cmyk.tiff", .tiff, 3.0), ("lossless.jxl", .jxl, 0.5), ("photo.heic", .heic, 6.0)])
    func matchesSource(name: String, format: ImageFormat, tolerance: Double) throws {
        let decoded = try Self.decode(name, colorManagement: false)
        #expect(decoded.info.format == format)
        #expect(decoded.bitmap.size == Size(width: 64, height: 48) && decoded.bitmap.channels == 3)
        let difference = PixelMath.meanAbsoluteDifference(decoded.bitmap, try Self.hopper())
        #expect(difference <= tolerance, "\(name): mean difference \(difference)")
    }

    @Test("a lossy (XYB) JPEG XL whose source colour libjxl cannot output (gamma 2.2) is decoded straight to sRGB by libjxl, as djxl plus its profile shows it")
    func xybToSRGB() throws {
        let decoded = try Self.decode("lossy.jxl")
        #expect(!decoded.color.converted, "\(decoded.color)")
        let reference = try Self.decode("lossy.jxl.ref.png").bitmap  // djxl's, converted from its profile by lcms2
        let difference = PixelMath.meanAbsoluteDifference(decoded.bitmap, reference)
        #expect(difference <= 0.5, "mean difference \(difference) from djxl")
    }

    @Test("a JPEG recompressed losslessly into JPEG XL decodes to what the JPEG decodes to")
    func recompressedJPEG() throws {
        let jxl = try Self.decode("photo.jxl").bitmap
        let jpeg = try ImageDecoder.decode(try Fixtures.data("jpeg/baseline/hopper.jpg")).bitmap
        #expect(jxl.size == jpeg.size)
        let difference = PixelMath.meanAbsoluteDifference(jxl, jpeg)
        #expect(difference <= 2, "mean difference \(difference)")
    }

    @Test("alpha is kept as straight alpha: the colour under opaque-enough pixels and the alpha channel match the PNG",
          arguments: ["alpha.tiff", "alpha.jxl", "alpha.heic"])
    func alpha(name: String) throws {
        // PngSuite's gAMA 1.0 is not in the TIFF: the stored numbers are compared.
        let decoded = try Self.decode(name, colorManagement: false).bitmap
        let png = try ImageDecoder.decode(try Fixtures.data("pngsuite/basn6a08.png"), options: DecodeOptions(colorManagement: false)).bitmap
        #expect(decoded.channels == 4 && decoded.size == png.size)
        let lossy = name.hasSuffix(".heic")
        var worst = 0
        for (mine, theirs) in zip(decoded.bytes.chunks(4), png.bytes.chunks(4)) {
            let a = Array(mine), b = Array(theirs)
            worst = max(worst, abs(Int(a[3]) - Int(b[3])))
            if b[3] >= 128 { for c in 0..<3 { worst = max(worst, abs(Int(a[c]) - Int(b[c])) / (lossy ? 8 : 1)) } }
        }
        #expect(worst <= (lossy ? 12 : 2), "\(name): largest difference \(worst)")
    }

    @Test("a TIFF's orientation tag is reported and a thumbnail comes out upright")
    func orientation() throws {
        let info = try ImageDecoder.probe(try Self.fixture("rotated.tiff"))
        #expect(info.orientation == .right && info.orientedSize == Size(width: 48, height: 64))
    }

    @Test("an embedded Display P3 profile converts to sRGB as the PNG with the same profile does",
          arguments: ["display-p3.tiff", "display-p3.jxl"])
    func colour(name: String) throws {
        let decoded = try Self.decode(name)
        let png = try ImageDecoder.decode(try Self.fixture("p3.png"))
        #expect(decoded.color.converted && png.color.converted)
        let unconverted = try Self.decode(name, colorManagement: false).bitmap
        let difference = PixelMath.meanAbsoluteDifference(decoded.bitmap, png.bitmap)
        #expect(difference <= 1.0, "\(name): mean difference from the PNG \(difference)")
        #expect(PixelMath.meanAbsoluteDifference(unconverted, decoded.bitmap) > 1.0, "the conversion changed nothing")
    }

    @Test("a TIFF declaring 60000x60000 is refused from its header, naming the size and the limit")
    func sizeBomb() throws {
        let data = try Self.fixture("bomb-60000.tiff")
        #expect(try ImageDecoder.probe(data).size == Size(width: 60000, height: 60000))
        let error = #expect(throws: CodecError.self) { try ImageDecoder.decode(data) }
        #expect(error?.code == .tooManyPixels && error?.message.contains("60000x60000") == true, "\(String(describing: error))")
    }

    @Test("a file cut in half is a clean truncated or corrupt error", arguments: ["cut-strips.tiff", "cut-photo.heic", "cut-photo.jxl"])
    func cut(name: String) throws {
        let error = #expect(throws: CodecError.self) { try Self.decode(name) }
        #expect(error?.code == .truncated || error?.code == .corrupt, "\(name): \(String(describing: error))")
        #expect(error?.message.isEmpty == false)
    }

    @Test("every single-byte corruption and every cut of each format decodes or fails cleanly",
          arguments: ["strips.tiff", "tiled.tiff", "lossless.jxl", "photo.heic"])
    func damaged(name: String) throws {
        let original = try Self.fixture(name)
        // Every byte of the first 512 (the headers) and about 1,500 positions after them.
        let positions = Array(0..<Swift.min(512, original.count)) + Array(stride(from: 512, to: original.count, by: Swift.max(1, original.count / 1500)))
        for position in positions {
            var data = original
            data[position] ^= 0xFF
            do { _ = try ImageDecoder.decode(data) } catch {}  // a CodecError is fine; a crash is not
        }
        for length in stride(from: 0, to: original.count, by: max(1, original.count / 400)) {
            do { _ = try ImageDecoder.decode(original.prefix(length)) } catch {}
        }
    }
}

extension Array {
    /// Consecutive slices of `size` elements.
    func chunks(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
