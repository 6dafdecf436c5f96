import Foundation
import ImageCodecs
import ImageCore
import ImgCacheKit
import TestSupport
import Testing

/// An SVG's thumbnails are drawn at their own size from the document, filling the box (a vector
/// has no pixels to upscale), and a huge declared size costs nothing until something is drawn.
@Suite("SVG thumbnails")
struct VectorThumbnailTests {
    static func svg(_ name: String) throws -> Data { try Fixtures.data("../formats/svg/" + name) }

    @Test("a 64x48 drawing in a 320 box comes out 320x240, transparent (PNG), and exactly as librsvg draws it at 320x240")
    func drawnAtBoxSize() throws {
        let thumbnail = try Thumbnailer.makeThumbnail(from: try Self.svg("viewbox.svg"))
        #expect(thumbnail.size == Size(width: 320, height: 240) && thumbnail.format == .png)
        let decoded = try ImageDecoder.decode(thumbnail.data, options: DecodeOptions(colorManagement: false)).bitmap
        let reference = try ImageDecoder.decode(try Self.svg("viewbox.320.png"), options: DecodeOptions(colorManagement: false)).bitmap
        #expect(decoded.channels == 4 && reference.channels == 4)
        let difference = PixelMath.meanAbsoluteDifference(decoded, reference)
        #expect(difference < 0.05, "mean difference \(difference) from rsvg-convert at 320x240")
        // Drawing small and resampling up would blur the rectangle's edge at x = 4 * 5 = 20.
        let upscaled = Resampler.resample(try ImageDecoder.decode(try Self.svg("viewbox.svg")).bitmap, to: Size(width: 320, height: 240))
        #expect(PixelMath.meanAbsoluteDifference(upscaled, reference) > 0.5, "the test cannot tell drawing from resampling")
    }

    @Test("cover crops of a drawing are drawn at scale too: a 100x100 cover of the 64x48 drawing")
    func cover() throws {
        let options = ThumbnailOptions(spec: ThumbnailSpec(box: Size(width: 100, height: 100), fit: .cover))
        let thumbnail = try Thumbnailer.makeThumbnail(from: try Self.svg("viewbox.svg"), options: options)
        #expect(thumbnail.size == Size(width: 100, height: 100))
    }

    @Test("a document declaring 100000x100000 makes a 320x320 thumbnail under the default 50 MP limit")
    func hugeDeclaredSize() throws {
        let thumbnail = try Thumbnailer.makeThumbnail(from: try Self.svg("huge.svg"))
        #expect(thumbnail.size == Size(width: 320, height: 320) && thumbnail.source.size == Size(width: 100_000, height: 100_000))
    }
}
