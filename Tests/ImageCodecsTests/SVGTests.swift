import Foundation
import ImageCodecs
import ImageCore
import TestSupport
import Testing

/// SVG through librsvg: sized by width/height or viewBox, drawn at the size asked for with its
/// transparency, and never reaching the network or the file system; hostile documents refused
/// before parsing or drawn within the limits. Fixtures: Tests/Fixtures/formats/svg/make.sh.
@Suite("SVG")
struct SVGTests {
    static func fixture(_ name: String) throws -> Data { try Fixtures.data("../formats/svg/" + name) }

    static func reference(_ name: String) throws -> Bitmap {
        try ImageDecoder.decode(try fixture(name), options: DecodeOptions(colorManagement: false)).bitmap
    }

    @Test("the intrinsic size: absolute width and height, else the viewBox's",
          arguments: [("viewbox.svg", 64, 48), ("size.svg", 80, 40), ("gradient.svg", 64, 64), ("huge.svg", 100_000, 100_000)])
    func intrinsicSize(name: String, width: Int, height: Int) throws {
        let info = try ImageDecoder.probe(try Self.fixture(name))
        #expect(info.format == .svg && info.size == Size(width: width, height: height) && info.hasAlpha)
    }

    @Test("drawn at its own size and at 5x, each exactly as rsvg-convert draws it at that size (not resampled)",
          arguments: [("viewbox.svg", 64, 48, "viewbox.64.png"), ("viewbox.svg", 320, 240, "viewbox.320.png"),
                      ("size.svg", 80, 40, "size.80.png"), ("gradient.svg", 64, 64, "gradient.64.png")])
    func drawnAtSize(name: String, width: Int, height: Int, reference: String) throws {
        let size = Size(width: width, height: height)
        let decoded = try ImageDecoder.decode(try Self.fixture(name), options: DecodeOptions(renderSize: size)).bitmap
        let expected = try Self.reference(reference)
        #expect(decoded.size == size && decoded.channels == 4)
        let difference = PixelMath.meanAbsoluteDifference(Bitmap(width: width, height: height, channels: 4, bytes: PixelMath.rgba(decoded)),
                                                          Bitmap(width: width, height: height, channels: 4, bytes: PixelMath.rgba(expected)))
        #expect(difference < 0.05, "\(name) at \(size): mean difference \(difference) from rsvg-convert")
    }

    @Test("the background stays transparent: the corners of the viewBox drawing are alpha 0")
    func transparent() throws {
        let bitmap = try ImageDecoder.decode(try Self.fixture("viewbox.svg")).bitmap
        #expect(bitmap.bytes[3] == 0 && bitmap.bytes[(bitmap.width - 1) * 4 + 3] == 0)
    }

    @Test("text renders (with the system's fonts): dark pixels on the white field")
    func text() throws {
        let bitmap = try ImageDecoder.decode(try Self.fixture("text.svg")).bitmap
        let dark = bitmap.bytes.chunks(4).filter { $0[$0.startIndex] < 100 && $0[$0.startIndex + 3] == 255 }.count
        #expect(dark > 100, "\(dark) dark pixels")
    }

    @Test("a script never runs: the rectangle keeps its green")
    func script() throws {
        let bitmap = try ImageDecoder.decode(try Self.fixture("script.svg")).bitmap
        #expect(Array(bitmap.bytes[0..<4]) == [0, 255, 0, 255])
    }

    @Test("entity declarations (XXE, billion laughs) and XInclude are refused before librsvg parses",
          arguments: ["xxe.svg", "laughs.svg", "xinclude.svg"])
    func refusedMarkup(name: String) throws {
        let error = #expect(throws: CodecError.self) { try ImageDecoder.decode(try Self.fixture(name)) }
        #expect(error?.code == .unsupported && error?.message.hasPrefix("SVG: ") == true, "\(String(describing: error))")
    }

    @Test("nesting past 256 and more than 200,000 elements are refused, naming the limit")
    func structureLimits() throws {
        let deep = #expect(throws: CodecError.self) { try ImageDecoder.probe(try Self.fixture("deep.svg")) }
        #expect(deep?.code == .limitExceeded && deep?.message.contains("256 deep") == true)
        let many = Data(("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\">"
            + String(repeating: "<rect/>", count: 200_001) + "</svg>").utf8)
        let error = #expect(throws: CodecError.self) { try ImageDecoder.probe(many) }
        #expect(error?.code == .limitExceeded && error?.message.contains("200000 elements") == true)
    }

    @Test("a 100000x100000 declared size is not drawn at that size: over the pixel limit it is refused, at a thumbnail's size it is drawn")
    func hugeDeclaredSize() throws {
        let data = try Self.fixture("huge.svg")
        let error = #expect(throws: CodecError.self) { try ImageDecoder.decode(data) }
        #expect(error?.code == .tooManyPixels || error?.code == .limitExceeded, "\(String(describing: error))")
        let small = try ImageDecoder.decode(data, options: DecodeOptions(renderSize: Size(width: 100, height: 100))).bitmap
        #expect(small.size == Size(width: 100, height: 100))
        #expect(Array(small.bytes[(50 * 100 + 50) * 4..<((50 * 100 + 50) * 4 + 4)]) == [255, 255, 255, 255], "the white square in the middle")
    }

    @Test("an external http: image and stylesheet, and a file: image, are not fetched or read: no request reaches a listening origin and nothing red is drawn")
    func noExternalResources() throws {
        let red = try ImageEncoder.png(Bitmap(width: 4, height: 4, channels: 3, bytes: [UInt8](repeating: 0, count: 48).enumerated().map { $0.offset % 3 == 0 ? 255 : 0 }))
        let origin = try TestOrigin { _, _ in .respond(status: 200, headers: ["Content-Type": "image/png"], body: red) }
        defer { origin.stop() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("svg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let local = folder.appendingPathComponent("red.png")
        try red.write(to: local)
        let document = """
            <svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="40" height="20">
              <style>@import url(\(origin.url("/style.css")));</style>
              <image href="\(origin.url("/red.png"))" x="0" y="0" width="20" height="20"/>
              <image xlink:href="\(local.absoluteString)" x="20" y="0" width="20" height="20"/>
              <rect x="0" y="0" width="1" height="1" fill="#0000ff"/>
            </svg>
            """
        let bitmap = try ImageDecoder.decode(Data(document.utf8)).bitmap
        #expect(origin.totalRequests == 0, "librsvg asked the origin for \(origin.requests.map(\.path))")
        let reds = bitmap.bytes.chunks(4).filter { $0[$0.startIndex] > 200 && $0[$0.startIndex + 1] < 50 && $0[$0.startIndex + 3] > 0 }.count
        #expect(reds == 0, "\(reds) red pixels: an external image was drawn")
        #expect(Array(bitmap.bytes[0..<4]) == [0, 0, 255, 255], "the document itself was drawn")
    }

    @Test("a data: image inside the document is drawn (self-contained, as browsers do)")
    func dataURL() throws {
        let red = try ImageEncoder.png(Bitmap(width: 2, height: 2, channels: 3, bytes: [255, 0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0]))
        let document = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"8\" height=\"8\"><image href=\"data:image/png;base64,\(red.base64EncodedString())\" width=\"8\" height=\"8\"/></svg>"
        let bitmap = try ImageDecoder.decode(Data(document.utf8)).bitmap
        #expect(Array(bitmap.bytes[(4 * 8 + 4) * 4..<((4 * 8 + 4) * 4 + 4)]) == [255, 0, 0, 255])
    }

    @Test("HTML and other XML are not sniffed as SVG; an SVG after a BOM, a declaration and a comment is")
    func sniff() {
        func format(_ text: String) -> ImageFormat? { Data(text.utf8).withUnsafeBytes { ImageFormat.sniff($0) } }
        #expect(format("<!DOCTYPE html><html><body><svg></svg></body></html>") == nil)
        #expect(format("<?xml version=\"1.0\"?><feed></feed>") == nil)
        #expect(format("<svgfoo/>") == nil)
        #expect(format("\u{FEFF}<?xml version=\"1.0\"?>\n<!-- drawn by hand -->\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>") == .svg)
    }

    @Test("every single-byte corruption and every cut of an SVG decodes or fails cleanly")
    func damaged() throws {
        let original = try Self.fixture("gradient.svg")
        for position in 0..<original.count {
            var data = original
            data[position] ^= 0x20
            do { _ = try ImageDecoder.decode(data) } catch {}
        }
        for length in stride(from: 0, to: original.count, by: 3) {
            do { _ = try ImageDecoder.decode(original.prefix(length)) } catch {}
        }
    }
}
