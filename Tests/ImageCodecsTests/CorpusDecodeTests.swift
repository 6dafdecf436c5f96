import Foundation
import ImageCodecs
import ImageCore
import TestSupport
import Testing

/// Every file of the fixture corpus, with the outcome its manifest line states.
@Suite("Corpus: every file decodes or fails as its manifest says")
struct CorpusDecodeTests {
    /// Valid files this decoder cannot handle (libjpeg-turbo 2.x has no 12-bit or lossless JPEG).
    static let unsupported: Set<String> = ["jpeg/precision/monkey12.jpg", "jpeg/precision/testimgl-lossless.jpg"]

    static let valid = Fixtures.entries { $0.expected == "valid" && !unsupported.contains($0.path) }
    /// Bombs in ancillary text chunks: the chunks are skipped unread, so the image itself decodes.
    static let textChunkBombs: Set<String> = ["bad/bomb/png_decompression_dos.png"]
    static let broken = Fixtures.entries { $0.expected != "valid" && !textChunkBombs.contains($0.path) }

    @Test("the manifest was found and read")
    func manifestRead() {
        #expect(Fixtures.manifest.count == 331)
        #expect(Self.valid.count > 250)
        #expect(Self.broken.count == 66)  // 67 bad files but the text-chunk bomb, which decodes
        #expect(Self.textChunkBombs.allSatisfy { path in Fixtures.manifest.contains { $0.path == path && $0.expected == "bomb" } })
    }

    @Test("every valid file decodes to its declared size", arguments: valid)
    func validDecodes(entry: Fixtures.Entry) throws {
        let data = try Fixtures.data(entry.path)
        let info = try ImageDecoder.probe(data)
        let decoded = try ImageDecoder.decode(data)
        #expect(decoded.bitmap.size == entry.size)
        #expect(info.size == entry.size)
        #expect((1...4).contains(decoded.bitmap.channels))
        #expect(decoded.warnings == 0 || entry.probe.hasPrefix("WARN"), "unexpected warning: \(decoded.firstWarning ?? "")")
    }

    @Test("12-bit and lossless JPEG are a clean 'unsupported' error", arguments: unsupported.sorted())
    func unsupportedJPEG(path: String) throws {
        let error = try #require(try decodeFailure(path))
        #expect(error.code == .unsupported)
        #expect(error.message.contains("Unsupported JPEG"))
    }

    /// The error kinds each expected outcome of the fixture manifest allows.
    static let kinds: [String: Set<CodecError.Code>] = [
        // A bomb is refused by a limit (pixels from the header, chunk sizes), never decoded.
        "bomb": [.tooManyPixels, .limitExceeded, .tooManyBytes],
        // A corrupt file is corrupt or truncated data, bytes that are not an image at all, or a
        // damaged length field (a huge chunk) that a limit refuses before anything is allocated.
        "corrupt": [.corrupt, .truncated, .unsupportedFormat, .limitExceeded],
    ]

    @Test("every corrupt or bomb file is a clean error of the kind the fixture manifest expects", arguments: broken)
    func brokenFails(entry: Fixtures.Entry) throws {
        let error = try #require(try decodeFailure(entry.path), "\(entry.path) decoded instead of failing")
        var allowed = try #require(Self.kinds[entry.expected], "no error kinds for the expected outcome '\(entry.expected)'")
        // A damaged file in a JPEG process libjpeg does not support (lossless) is refused as
        // unsupported before its damage is reached, as the manifest's libjpeg probe records.
        if entry.probe.hasPrefix("ERROR: Unsupported JPEG process") { allowed.insert(.unsupported) }
        #expect(allowed.contains(error.code), "\(entry.path): \(error.code), expected one of \(allowed): \(error.message)")
        #expect(!error.message.isEmpty)
    }

    @Test("a zTXt chunk that inflates to a huge text is skipped unread: the 1x1 image decodes")
    func textChunkBomb() throws {
        let decoded = try ImageDecoder.decode(try Fixtures.data("bad/bomb/png_decompression_dos.png"))
        #expect(decoded.bitmap.size == Size(width: 1, height: 1))
    }

    @Test("pixel bombs fail on the pixel limit, from the header, before any allocation", arguments: [
        "bad/bomb/16384x16384.png", "bad/bomb/9643x10328.jpg", "bad/bomb/max_size-65535x65535.jpg",
    ])
    func pixelBombs(path: String) throws {
        let error = try #require(try decodeFailure(path))
        #expect(error.code == .tooManyPixels)
    }

    @Test("the limit is checked against the header: just under decodes, just over fails")
    func limitBoundary() throws {
        let data = try Fixtures.data("jpeg/baseline/testorig.jpg")  // 227x149
        let pixels = 227 * 149
        #expect(try ImageDecoder.decode(data, options: DecodeOptions(maxPixels: pixels)).bitmap.size == Size(width: 227, height: 149))
        #expect(throws: CodecError(.tooManyPixels, "227x149 is 33823 pixels, over the limit of 33822")) {
            try ImageDecoder.decode(data, options: DecodeOptions(maxPixels: pixels - 1))
        }
        let png = try Fixtures.data("png/hopper.png")  // 128x128
        #expect(throws: CodecError.self) { try ImageDecoder.decode(png, options: DecodeOptions(maxPixels: 128 * 128 - 1)) }
        #expect(try ImageDecoder.decode(png, options: DecodeOptions(maxPixels: 128 * 128)).bitmap.width == 128)
    }

}
