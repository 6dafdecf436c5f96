import Foundation
import ImageCodecs
import ImageCore
import ImgCacheKit
import TestSupport
import Testing

/// Wide-gamut versions of one sRGB photo (scripts/fixtures/make_fixtures.py): converted to sRGB,
/// each thumbnail lands within JPEG's noise of the sRGB twin's; kept as numbers, it does not.
@Suite("Colour management: wide-gamut photos become sRGB thumbnails")
struct ColorThumbnailTests {
    static func thumbnail(_ path: String, colorManagement: Bool = true) throws -> Thumbnail {
        var options = ThumbnailOptions(spec: ThumbnailSpec(box: Size(width: 320, height: 320), fit: .inside), format: .jpeg, quality: 90)
        options.decode.colorManagement = colorManagement
        return try Thumbnailer.makeThumbnail(from: try Fixtures.data(path), options: options)
    }

    static func pixels(_ thumbnail: Thumbnail) throws -> Bitmap { try ImageDecoder.decode(thumbnail.data).bitmap }

    @Test("each converted thumbnail is within the noise floor of the sRGB twin's; the unconverted one is not",
          arguments: [("display-p3.jpg", "Display P3"), ("adobe-rgb.jpg", "Adobe RGB (1998)"), ("prophoto.jpg", "ProPhoto RGB"),
                      ("display-p3.png", "Display P3"), ("../formats/display-p3-nclx.avif", "cICP Display P3")])
    func wideGamut(file: String, profile: String) throws {
        let twin = try Self.pixels(try Self.thumbnail("../colour/srgb-twin.jpg"))
        let converted = try Self.thumbnail("../colour/" + file)
        let asNumbers = try Self.thumbnail("../colour/" + file, colorManagement: false)
        let good = PixelMath.meanAbsoluteDifference(try Self.pixels(converted), twin)
        let bad = PixelMath.meanAbsoluteDifference(try Self.pixels(asNumbers), twin)
        // Re-encoding alone costs the twin itself about 1.5/255 at these settings.
        #expect(good < 3.0, "\(file): \(good) per sample from the sRGB twin")
        #expect(bad > 2 * good && bad > 3.5, "\(file) without conversion: only \(bad) per sample off (the control)")
        #expect(converted.color.converted)
        #expect(converted.color.description?.hasPrefix(profile) == true, "\(converted.color)")
        #expect(!asNumbers.color.converted)
    }

    @Test("the sRGB twin and images with an sRGB profile or tag cost no transform",
          arguments: ["../colour/srgb-twin.jpg", "png/vgl_5674_0098.png", "png/monkey16.png", "png/transparent.png", "png/hopper.png"])
    func srgbIsLeftAlone(file: String) throws {
        let decoded = try ImageDecoder.decode(try Fixtures.data(file))
        #expect(!decoded.color.converted, "\(file): \(decoded.color)")
        #expect(decoded.color.warning == nil, "\(file): \(decoded.color)")
    }
}
