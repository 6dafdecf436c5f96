import Foundation
import ImageCodecs
import ImageCore
import TestSupport
import Testing

@Suite("Colour profiles: what the decoder reads, converts and ignores")
struct ColorProfileTests {
    @Test("a broken ICC profile never fails the image: ignored with a warning",
          arguments: ["jpeg/colorspace/icc_chunk_count_mismatch.jpeg", "jpeg/colorspace/icc_missing_chunk.jpeg"])
    func brokenChunks(file: String) throws {
        let decoded = try ImageDecoder.decode(try Fixtures.data(file))
        #expect(decoded.color.source == .icc && !decoded.color.converted)
        #expect(decoded.color.warning?.contains("ignored") == true, "\(decoded.color)")
    }

    @Test("APP2 chunks out of order are put back in sequence order (this file's bytes are no real profile: lcms2 says so); one after SOF is found")
    func chunkOrder() throws {
        let ordered = try ImageDecoder.decode(try Fixtures.data("jpeg/colorspace/icc_chunk_order.jpeg"))
        #expect(ordered.color.source == .icc && ordered.color.warning?.contains("chunk") == false, "\(ordered.color)")
        #expect(ordered.color.warning?.contains("invalid signature") == true, "\(ordered.color)")
        let afterSOF = try ImageDecoder.decode(try Fixtures.data("jpeg/colorspace/icc-after-SOF.jpg"))
        #expect(afterSOF.color.source == .icc, "\(afterSOF.color)")
    }

    @Test("a profile over the size limit is not parsed: the image decodes, the warning names the limit")
    func bigProfile() throws {
        let data = try Fixtures.data("jpeg/colorspace/icc_profile_big.jpg")
        let whole = try ImageDecoder.decode(data)
        #expect(whole.color.source == .icc && whole.color.warning == nil, "\(whole.color)")
        let limited = try ImageDecoder.decode(data, options: DecodeOptions(maxProfileBytes: 100_000))
        #expect(!limited.color.converted)
        #expect(limited.color.warning?.contains("100000-byte limit") == true, "\(limited.color)")
        #expect(limited.bitmap.size == whole.bitmap.size)
    }

    @Test("a malformed iCCP (bad zlib stream) leaves the PNG decodable")
    func malformedPNGProfile() throws {
        let decoded = try ImageDecoder.decode(try Fixtures.data("png/icc_profile_none.png"))
        #expect(decoded.bitmap.width == 57 && !decoded.color.converted)
    }

    @Test("cICP Display P3 in a PNG is converted; gAMA 0.35 is; gray stays gray through its gray profile")
    func tags() throws {
        let cicp = try ImageDecoder.decode(try Fixtures.data("png/cicp-display-p3.png"))
        #expect(cicp.color.source == .cicp && cicp.color.converted && cicp.color.description?.contains("Display P3") == true, "\(cicp.color)")
        let gamma = try ImageDecoder.decode(try Fixtures.data("pngsuite/g03n2c08.png"))
        #expect(gamma.color.source == .pngChunks && gamma.color.converted, "\(gamma.color)")
        let plain = try ImageDecoder.decode(try Fixtures.data("pngsuite/g03n2c08.png"), options: DecodeOptions(colorManagement: false))
        // File gamma 0.35 decodes to much darker mid-tones than sRGB's ~0.45 would.
        #expect(PixelMath.channelMeans(gamma.bitmap)[0] < PixelMath.channelMeans(plain.bitmap)[0])
        for file in ["jpeg/colorspace/nuke-grayscale.jpeg", "jpeg/colorspace/grayscale-icc.jpg"] {
            let gray = try ImageDecoder.decode(try Fixtures.data(file))
            #expect(gray.bitmap.channels == 1 && gray.color.source == .icc && gray.color.warning == nil, "\(file): \(gray.color)")
        }
    }
}
