import Foundation
import ImageCodecs
import ImageCore
import TestSupport
import Testing

/// Inputs the fuzzers (fuzz/run.sh) found, kept as regression tests (Tests/Fixtures/fuzz/).
@Suite("Fuzz findings")
struct FuzzRegressionTests {
    @Test("a 57-byte PNG declaring a 1 GB pCAL chunk is refused on the chunk limit, before libpng allocates it")
    func oversizedAncillaryChunk() throws {
        let data = try Fixtures.data("../fuzz/png-pcal-1gb-chunk.png")
        #expect(data.count == 57)
        for attempt in [{ _ = try ImageDecoder.probe(data) }, { _ = try ImageDecoder.decode(data) },
                        { _ = try ImageDecoder.decode(data, options: DecodeOptions(lenient: true)) }] {
            let error = try #require(throws: CodecError.self) { try attempt() }
            #expect(error.code == .limitExceeded, "\(error)")
            #expect(error.message.contains("chunk"))
        }
        // (Before, libpng allocated the 1 GB and the read then failed as "truncated": 1 GB RSS, 2.6 s.)
    }

    @Test("a BMP whose bit-field masks are all 32 bits (0xFFFFFFFF) decodes: the contiguity check no longer overflows")
    func fullBitFieldMask() throws {
        let data = try Fixtures.data("../fuzz/bmp-full-bitfield-mask.bmp")
        let decoded = try ImageDecoder.decode(data, options: DecodeOptions(lenient: true))
        #expect(decoded.bitmap.size == Size(width: 32, height: 32))
        // (Before, `shifted + 1` trapped on UInt32 overflow: found by FuzzDecode in 2 s on the BMP fixtures.)
    }

    @Test("a damaged HEIC's error carries libheif's message, copied before the context that holds it is freed")
    func heifMessageAfterFree() throws {
        let data = try Fixtures.data("../fuzz/heic-message-after-free.heic")
        let error = try #require(throws: CodecError.self) { try ImageDecoder.probe(data) }
        #expect(error.code == .truncated && error.message.hasPrefix("HEIF container: Invalid input: Unexpected end of file"), "\(error)")
        // (Before, the message was formatted from the freed context: AddressSanitizer's heap-use-after-free,
        // found by FuzzDecode in its first minutes on the HEIC fixtures.)
    }

    @Test("a HEIC whose decoded image is not the size its header declares is an error, not an image of another size")
    func heifSizeDisagrees() throws {
        let data = try Fixtures.data("../fuzz/heic-size-disagrees.heic")
        let probed = try ImageDecoder.probe(data).size
        do {
            let decoded = try ImageDecoder.decode(data)
            #expect(decoded.bitmap.size == probed, "decoded \(decoded.bitmap.size), probed \(probed)")
        } catch {
            #expect(error.message.contains("its header says"), "\(error)")
        }
        // (Before, the decode returned the other size: FuzzDecode's probe-equals-decode check failed.)
    }

    @Test("a 1 KB HEIC whose 32x32 primary image has a huge alpha image is refused by libheif's size limit before it is decoded")
    func heifHugeAlpha() throws {
        let data = try Fixtures.data("../fuzz/heic-huge-alpha.heic")
        #expect(data.count == 1002)
        let error = try #require(throws: CodecError.self) { try ImageDecoder.decode(data) }
        #expect(error.code == .limitExceeded, "\(error)")
        // (Before, libheif decoded the alpha image at its declared size: 2.2 GB peak RSS and 4 s, then
        // "Unsupported color conversion". Found by FuzzDecode; now 47 MB and 0.08 s for the whole process.)
    }
}
