@_spi(Testing) import CacheStore
import Fetching
import Foundation
import ImageCodecs
import ImageCore
import ImgCacheKit
import TestSupport
import Testing

/// The "done when": a sync of a seed whose images are a Display P3 JPEG and WebP and
/// AVIF originals gives correct-colour thumbnails in every configured format.
@Suite("Sync: wide-gamut, WebP and AVIF originals, every format")
struct ModernSyncTests {
    @Test("P3, WebP and AVIF originals: every format of every variant is made, decodes, and has the sRGB twin's colours")
    func syncModern() throws {
        let directory = try TemporaryDirectory()
        let files = ["/p3.jpg": "../colour/display-p3.jpg", "/photo.webp": "../formats/photo.webp",
                     "/photo.avif": "../formats/photo.avif", "/alpha.avif": "../formats/alpha.avif"]
        let origin = try TestOrigin { request, _ in
            guard let fixture = files[request.path] else { return .respond(status: 404, headers: [:], body: Data()) }
            return .respond(status: 200, headers: ["Content-Type": "application/octet-stream"], body: try! Fixtures.data(fixture))
        }
        let seeds = directory.url.appendingPathComponent("seeds")
        try SeedFiles.write(seeds, urls: files.keys.sorted().map { (origin.url($0), nil) })
        var configuration = Configuration()
        configuration.cacheDirectory = directory.url.appendingPathComponent("cache").path
        configuration.variants = [Variant(name: "thumb", spec: ThumbnailSpec(box: Size(width: 160, height: 160)), formats: [.avif, .webp, .auto])]
        configuration.fetch.addressPolicy = AddressPolicy(allowedAddresses: ["127.0.0.1"])
        let report = try Syncer(seedsDirectory: seeds.path, configuration: configuration).run()
        #expect(report.fetched == 4 && report.cached == 4 && report.failed == 0, "\(report.results.compactMap(\.error))")
        #expect(report.thumbnailsMade == 12)

        let index = try CacheIndex(path: directory.url.appendingPathComponent("cache/index.sqlite").path)
        let store = try BlobStore(root: directory.url.appendingPathComponent("cache"))
        // The sRGB twin's own thumbnail in each format: the same lossy encoding, so what is left is colour.
        let twinData = try Fixtures.data("../colour/srgb-twin.jpg")
        let twins = Dictionary(uniqueKeysWithValues: try configuration.renditions.map { rendition in
            let made = try Thumbnailer.makeThumbnail(from: twinData, options: configuration.options(for: rendition))
            return (made.format.rawValue, try ImageDecoder.decode(made.data).bitmap)
        })
        for path in files.keys {
            let source = try #require(try index.source(origin.url(path)))
            let thumbnails = try index.thumbnails(digest: source.digest!)
            let expected = path == "/alpha.avif" ? ["avif", "png", "webp"] : ["avif", "jpeg", "webp"]
            #expect(thumbnails.map(\.format.rawValue).sorted() == expected, "\(path)")
            for record in thumbnails {
                let decoded = try ImageDecoder.decode(try store.read(store.thumbnailPath(record)))
                #expect(decoded.info.format.rawValue == record.format.rawValue && decoded.bitmap.size == Size(width: record.width, height: record.height))
                if path != "/alpha.avif" {
                    let twin = try #require(twins[record.format.rawValue])
                    let difference = PixelMath.meanAbsoluteDifference(decoded.bitmap.hasAlphaChannel ? decoded.bitmap.flattened() : decoded.bitmap, twin)
                    // Two generations of lossy coding (the WebP/AVIF original, then this file) cost up to ~3.5.
                    #expect(difference < 4, "\(path) as \(record.format): \(difference) per sample from the sRGB twin's \(record.format)")
                    if path == "/p3.jpg" {
                        // The control: the same file made without conversion is much further off.
                        var options = configuration.options(for: configuration.renditions.first { $0.format.rawValue == record.format.rawValue || ($0.format == .auto && record.format == .jpeg) }!)
                        options.decode.colorManagement = false
                        let kept = try ImageDecoder.decode(try Thumbnailer.makeThumbnail(from: try Fixtures.data(files[path]!), options: options).data).bitmap
                        let control = PixelMath.meanAbsoluteDifference(kept.hasAlphaChannel ? kept.flattened() : kept, twin)
                        #expect(control > 1.5 * difference, "P3 kept as numbers is only \(control) off, converted \(difference)")
                    }
                } else {
                    #expect(decoded.bitmap.hasTransparency, "\(path) as \(record.format) lost its alpha")
                }
            }
        }
        let p3Digest = try #require(try index.source(origin.url("/p3.jpg"))?.digest)
        let p3 = try #require(try index.object(p3Digest))
        #expect(p3.colorProfile == "Display P3 (imgcache test) (converted to sRGB)")
        // An image cached before profiles were recorded gets its profile when a sync remakes a file of it.
        let removed = try #require(try index.thumbnails(digest: p3Digest).first)
        try index.testing.forgetProfile(p3Digest, andThumbnail: removed.key)
        let again = try Syncer(seedsDirectory: seeds.path, configuration: configuration).run()
        #expect(again.thumbnailsMade == 1)
        #expect(try index.object(p3Digest)?.colorProfile == p3.colorProfile)
        let manifest = try Manifest.build(index: index, variants: configuration.variants) { "/t/\($0.key)" }
        #expect(manifest.images[origin.url("/p3.jpg")]?.colorProfile == p3.colorProfile)
        #expect(manifest.images[origin.url("/photo.webp")]?.variants["thumb"]?.formats.map(\.type) == ["image/avif", "image/webp", "image/jpeg"])
    }
}
