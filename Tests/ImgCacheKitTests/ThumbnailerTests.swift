import Foundation
import ImageCodecs
import ImageCore
import ImgCacheKit
import TestSupport
import Testing

@Suite("Thumbnailer")
struct ThumbnailerTests {
    static let small = ThumbnailOptions(spec: ThumbnailSpec(box: Size(width: 64, height: 64)))

    static func thumbnailPixels(_ path: String, options: ThumbnailOptions = small) throws -> Bitmap {
        let thumbnail = try Thumbnailer.makeThumbnail(from: try Fixtures.data(path), options: options)
        return try ImageDecoder.decode(thumbnail.data).bitmap
    }

    @Test("EXIF orientation 1-8: every thumbnail is the same way up as orientation 1",
          arguments: ["Landscape", "Portrait"])
    func orientationSets(set: String) throws {
        let reference = try Self.thumbnailPixels("jpeg/orientation/\(set)_1.jpg")
        for n in 2...8 {
            let thumbnail = try Self.thumbnailPixels("jpeg/orientation/\(set)_\(n).jpg")
            #expect(thumbnail.size == reference.size, "\(set)_\(n)")
            guard thumbnail.size == reference.size else { continue }
            let difference = PixelMath.meanAbsoluteDifference(thumbnail, reference)
            #expect(difference < 6, "\(set)_\(n) differs from \(set)_1 by \(difference) per sample")
        }
    }

    @Test("a thumbnail that ignored orientation would differ: the check has teeth")
    func orientationCheckHasTeeth() throws {
        let reference = try Self.thumbnailPixels("jpeg/orientation/Landscape_1.jpg")
        let upsideDown = try Self.thumbnailPixels("jpeg/orientation/Landscape_3.jpg").applying(.down)
        #expect(PixelMath.meanAbsoluteDifference(upsideDown, reference) > 20)
    }

    @Test("PNG eXIf orientation is applied too")
    func pngOrientation() throws {
        let six = try Thumbnailer.makeThumbnail(from: try Fixtures.data("png/orientation/orientation-6.png"), options: Self.small)
        #expect(six.source.size == Size(width: 200, height: 100))
        #expect(six.size == Size(width: 32, height: 64))  // displayed portrait
    }

    @Test("default: a 320 box, JPEG q80 for opaque images, exact box side")
    func defaults() throws {
        let thumbnail = try Thumbnailer.makeThumbnail(from: try Fixtures.data("jpeg/metadata/xmp_test.jpg"))
        #expect(thumbnail.format == .jpeg)
        #expect(thumbnail.size == Size(width: 320, height: 172))  // 2000x1072
        #expect(thumbnail.plan.jpegScaleDenominator == 2)
        let decoded = try ImageDecoder.decode(thumbnail.data)
        #expect(decoded.bitmap.size == thumbnail.size)
    }

    @Test("transparent images become PNG with alpha; opaque PNGs become JPEG")
    func autoFormat() throws {
        let transparent = try Thumbnailer.makeThumbnail(from: try Fixtures.data("png/transparent.png"), options: Self.small)
        #expect(transparent.format == .png)
        #expect(try ImageDecoder.decode(transparent.data).bitmap.hasTransparency)
        let opaque = try Thumbnailer.makeThumbnail(from: try Fixtures.data("png/hopper.png"), options: Self.small)
        #expect(opaque.format == .jpeg)
        // An RGBA PNG whose alpha is all 255 is opaque: JPEG.
        let opaqueRGBA = try Thumbnailer.makeThumbnail(from: try Fixtures.data("png/uncompressed_rgb.png"), options: Self.small)
        #expect(opaqueRGBA.format == .jpeg)
    }

    @Test("--format forces the encoder")
    func forcedFormat() throws {
        var options = Self.small
        options.format = .png
        #expect(try Thumbnailer.makeThumbnail(from: try Fixtures.data("jpeg/baseline/hopper.jpg"), options: options).format == .png)
        options.format = .jpeg
        let flattened = try Thumbnailer.makeThumbnail(from: try Fixtures.data("png/transparent.png"), options: options)
        #expect(flattened.format == .jpeg)
        #expect(try ImageDecoder.decode(flattened.data).bitmap.channels == 3)
    }

    @Test("never upscales: a small image keeps its size")
    func noUpscale() throws {
        let thumbnail = try Thumbnailer.makeThumbnail(from: try Fixtures.data("jpeg/baseline/hopper.jpg"))
        #expect(thumbnail.size == Size(width: 128, height: 128))
    }

    @Test("cover fills the box exactly")
    func cover() throws {
        let options = ThumbnailOptions(spec: ThumbnailSpec(box: Size(width: 64, height: 36), fit: .cover))
        let thumbnail = try Thumbnailer.makeThumbnail(from: try Fixtures.data("jpeg/orientation/Portrait_6.jpg"), options: options)
        #expect(thumbnail.size == Size(width: 64, height: 36))
        #expect(try ImageDecoder.decode(thumbnail.data).bitmap.size == Size(width: 64, height: 36))
    }

    @Test("a declared size that matches is used as it is")
    func declaredMatches() throws {
        let thumbnail = try Thumbnailer.makeThumbnail(
            from: try Fixtures.data("jpeg/orientation/Landscape_6.jpg"), declaredSize: Size(width: 1800, height: 1200),
            options: Self.small)
        #expect(thumbnail.dimensionMismatch == nil)
        #expect(thumbnail.size == Size(width: 64, height: 43))
    }

    @Test("a declared size that disagrees: the image's size wins and the mismatch is returned, not thrown")
    func declaredMismatch() throws {
        let thumbnail = try Thumbnailer.makeThumbnail(
            from: try Fixtures.data("jpeg/metadata/xmp_test.jpg"), declaredSize: Size(width: 1280, height: 853))
        #expect(thumbnail.dimensionMismatch == DimensionMismatch(declared: Size(width: 1280, height: 853),
                                                                 actual: Size(width: 2000, height: 1072)))
        #expect(thumbnail.size == Size(width: 320, height: 172))
        #expect(thumbnail.plan.sourceSize == Size(width: 2000, height: 1072))
    }

    @Test("inputs over the byte limit are refused before decoding")
    func byteLimit() throws {
        var options = Self.small
        options.maxInputBytes = 1000
        #expect(throws: CodecError.self) {
            try Thumbnailer.makeThumbnail(from: try Fixtures.data("jpeg/baseline/hopper.jpg"), options: options)
        }
    }

    @Test("a thumbnail of a large photo is close to an independent full-resolution Lanczos reference (Pillow's)")
    func quality() throws {
        let data = try Fixtures.data("jpeg/metadata/xmp_test.jpg")  // 2000x1072
        let options = ThumbnailOptions(spec: ThumbnailSpec(box: Size(width: 100, height: 100)), format: .png)
        let thumbnail = try ImageDecoder.decode(try Thumbnailer.makeThumbnail(from: data, options: options).data).bitmap
        #expect(thumbnail.size == Size(width: 100, height: 54))
        // Made by another program (Pillow 13, Lanczos from the full-resolution decode; see
        // Tests/Fixtures/README.md), not by imgcache's resampler.
        let reference = try ImageDecoder.decode(try Fixtures.data("../reference/xmp_test-lanczos-100x54.png")).bitmap
        #expect(PixelMath.meanAbsoluteDifference(thumbnail, reference) < 1.5)
        // The measure tells resamplers apart: Pillow's nearest-neighbour of the same photo is far off.
        let nearest = try ImageDecoder.decode(try Fixtures.data("../reference/xmp_test-nearest-100x54.png")).bitmap
        #expect(PixelMath.meanAbsoluteDifference(thumbnail, nearest) > 5)
    }
}
