import Foundation
import ImageCodecs
import ImageCore
import TestSupport
import Testing

@Suite("Decoder behaviour")
struct DecoderBehaviourTests {
    @Test("PngSuite: every interlaced basi* file decodes to exactly the pixels of its basn* twin",
          arguments: Fixtures.entries { $0.path.hasPrefix("pngsuite/basi") }.map(\.path))
    func interlacedMatchesTwin(path: String) throws {
        let twin = path.replacingOccurrences(of: "/basi", with: "/basn")
        let interlaced = try ImageDecoder.decode(try Fixtures.data(path))
        let plain = try ImageDecoder.decode(try Fixtures.data(twin))
        #expect(interlaced.info.progressive)
        #expect(!plain.info.progressive)
        #expect(interlaced.bitmap.size == plain.bitmap.size)
        #expect(interlaced.bitmap.channels == plain.bitmap.channels)
        #expect(interlaced.bitmap.bytes == plain.bitmap.bytes)
    }

    @Test("PngSuite: every x* file is an error",
          arguments: Fixtures.entries { $0.path.hasPrefix("pngsuite/x") }.map(\.path))
    func corruptPngSuite(path: String) throws {
        #expect(throws: CodecError.self) { try ImageDecoder.decode(try Fixtures.data(path)) }
    }

    @Test("CMYK and Adobe YCCK come out as RGB that is not inverted")
    func cmykNotInverted() throws {
        let cmyk = try ImageDecoder.decode(try Fixtures.data("jpeg/colorspace/pil_sample_cmyk.jpg"))
        let rgb = try ImageDecoder.decode(try Fixtures.data("jpeg/colorspace/pil_sample_rgb.jpg"))
        #expect(cmyk.info.colorSpace == .cmyk || cmyk.info.colorSpace == .ycck)
        #expect(cmyk.bitmap.channels == 3)
        let difference = PixelMath.meanAbsoluteDifference(cmyk.bitmap, rgb.bitmap)
        #expect(difference < 20, "CMYK differs from its RGB twin by \(difference) per sample")
        // An inverted decode would be far off: compare with the negative.
        let negative = Bitmap(width: rgb.bitmap.width, height: rgb.bitmap.height, channels: 3,
                              bytes: rgb.bitmap.bytes.map { 255 - $0 })
        #expect(PixelMath.meanAbsoluteDifference(cmyk.bitmap, negative) > 60)
    }

    @Test("an Adobe CMYK JPEG has the known colour, not its negative: through its SWOP profile, and without colour management")
    func cmykKnownColour() throws {
        let data = try Fixtures.data("jpeg/colorspace/cmyk-icc.jpg")
        let decoded = try ImageDecoder.decode(data)
        #expect(decoded.info.adobeInverted)
        #expect(decoded.bitmap.channels == 3)
        #expect(decoded.color.converted && decoded.color.description == "U.S. Web Coated (SWOP) v2")
        // Pillow's ImageCms (LittleCMS, perceptual, the embedded profile to sRGB) gives channel means (149, 213, 213).
        for (mean, expected) in zip(PixelMath.channelMeans(decoded.bitmap), [149.0, 213.0, 213.0]) { #expect(abs(mean - expected) < 3) }
        // Without it, the naive formula: Pillow's plain CMYK -> RGB gives (153, 254, 210).
        let naive = try ImageDecoder.decode(data, options: DecodeOptions(colorManagement: false))
        #expect(!naive.color.converted)
        for (mean, expected) in zip(PixelMath.channelMeans(naive.bitmap), [153.0, 254.0, 210.0]) { #expect(abs(mean - expected) < 3) }
    }

    @Test("grayscale JPEG decodes to one channel with the pixels of its PNG twin")
    func grayscale() throws {
        let jpeg = try ImageDecoder.decode(try Fixtures.data("jpeg/baseline/testorig.jpg"))
        let gray = try ImageDecoder.decode(try Fixtures.data("png/testorig-gray.png"))
        #expect(gray.bitmap.channels == 1)
        #expect(jpeg.bitmap.size == gray.bitmap.size)
        let hopperGray = try ImageDecoder.decode(try Fixtures.data("jpeg/colorspace/hopper_gray.jpg"))
        #expect(hopperGray.bitmap.channels == 1)
        #expect(hopperGray.info.colorSpace == .gray)
    }

    @Test("palette with tRNS, gray with tRNS and 16-bit expand to 8-bit with alpha")
    func pngExpansion() throws {
        let palette = try ImageDecoder.decode(try Fixtures.data("pngsuite/tbbn3p08.png"))
        #expect(palette.bitmap.channels == 4)
        #expect(palette.bitmap.hasTransparency)
        let grayTRNS = try ImageDecoder.decode(try Fixtures.data("pngsuite/tbbn0g04.png"))
        #expect(grayTRNS.bitmap.channels == 2)
        let sixteen = try ImageDecoder.decode(try Fixtures.data("pngsuite/basn6a16.png"))
        #expect(sixteen.bitmap.channels == 4)
        #expect(sixteen.info.bitDepth == 16)
    }

    @Test("shrink-on-load: libjpeg scales by 1/2, 1/4, 1/8, rounding up", arguments: [1, 2, 4, 8])
    func scaledDecode(denominator: Int) throws {
        let data = try Fixtures.data("jpeg/orientation/Landscape_1.jpg")  // 1800x1200
        let decoded = try ImageDecoder.decode(data, options: DecodeOptions(jpegScaleDenominator: denominator))
        #expect(decoded.bitmap.size == ThumbnailGeometry.jpegScaledSize(Size(width: 1800, height: 1200), denominator: denominator))
    }

    @Test("a truncated JPEG is an error by default, and keeps its partial image when lenient")
    func truncatedJPEG() throws {
        let data = try Fixtures.data("bad/jpeg/Landscape_1-truncated-50pct.jpg")
        #expect(decodeFailure(data)?.code == .truncated)
        let partial = try ImageDecoder.decode(data, options: DecodeOptions(lenient: true))
        #expect(partial.bitmap.size == Size(width: 1800, height: 1200))
        #expect(partial.warnings > 0)
        #expect(partial.firstWarning?.contains("Premature end") == true)
    }

    @Test("a JPEG cut at 50% of any corpus photo is 'truncated'")
    func cutInHalf() throws {
        let whole = try Fixtures.data("jpeg/orientation/Portrait_3.jpg")
        #expect(decodeFailure(whole.prefix(whole.count / 2))?.code == .truncated)
    }

    @Test("a truncated PNG is an error by default, and partial when lenient")
    func truncatedPNG() throws {
        let data = try Fixtures.data("bad/png/truncated_image.png")
        #expect(decodeFailure(data)?.code == .truncated)
        let partial = try ImageDecoder.decode(data, options: DecodeOptions(lenient: true))
        #expect(partial.bitmap.size == Size(width: 640, height: 480))
        #expect(partial.warnings > 0)
    }

    @Test("a progressive JPEG with more scans than the limit fails cleanly")
    func scanLimit() throws {
        let data = try Fixtures.data("jpeg/progressive/nuke-progressive.jpeg")
        #expect(try ImageDecoder.decode(data).info.progressive)
        let error = try #require(decodeFailure(data, options: DecodeOptions(maxScans: 2)))
        #expect(error.code == .limitExceeded)
        #expect(error.message.contains("more than 2 progressive scans"))
    }

    @Test("formats are chosen by magic bytes: an HTML page and empty input are 'unsupported format'", arguments: [
        ("<!DOCTYPE html><html><body>Not found</body></html>", "HTML"),
        ("", "empty"),
    ])
    func formatConfusion(text: String, kind: String) throws {
        let error = try #require(decodeFailure(Data(text.utf8)))
        #expect(error.code == .unsupportedFormat)
        #expect(error.message.contains(kind))
    }

    @Test("magic bytes decide, not completeness: a bare TIFF header is a TIFF that fails as one; an SVG without a size is drawn at a browser's 300x150")
    func magicBytesDecide() throws {
        let tiff = try #require(decodeFailure(Data("II*\u{00}\u{08}\u{00}\u{00}\u{00}".utf8)))
        #expect(tiff.code != .unsupportedFormat && tiff.message.contains("TIFF"), "\(tiff)")
        let svg = try ImageDecoder.decode(Data("<svg xmlns='http://www.w3.org/2000/svg'/>".utf8))
        #expect(svg.info.format == .svg && svg.bitmap.size == Size(width: 300, height: 150))
    }

    @Test("the probe reads orientation from JPEG APP1 and PNG eXIf")
    func probeOrientation() throws {
        for n in 1...8 {
            #expect(try ImageDecoder.probe(try Fixtures.data("jpeg/orientation/Landscape_\(n).jpg")).orientation.rawValue == n)
            // imgproxy's orientation-1.png carries Orientation 3 in its eXIf chunk; the others carry their number.
            let png = try ImageDecoder.probe(try Fixtures.data("png/orientation/orientation-\(n).png"))
            #expect(png.orientation.rawValue == (n == 1 ? 3 : n))
        }
        #expect(try ImageDecoder.probe(try Fixtures.data("jpeg/orientation/Landscape_0.jpg")).orientation == .up)
        let progressive = try ImageDecoder.probe(try Fixtures.data("jpeg/progressive/progressive3.jpg"))
        #expect(progressive.progressive)
        #expect(progressive.components == 3)
        #expect(progressive.format == .jpeg)
    }
}
