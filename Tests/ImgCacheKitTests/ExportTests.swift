@_spi(Testing) import CacheStore
import Foundation
import ImageCodecs
import ImageCore
import ImgCacheKit
import TestSupport
import Testing

@Suite("imgcache export", .serialized)
struct ExportTests {
    /// A synced cache of three images (one of them failed) in a fresh folder.
    static func syncedCache(_ origin: ImageOrigin, _ directory: TemporaryDirectory) throws -> (seeds: URL, cache: URL, configuration: Configuration) {
        let seeds = directory.url.appendingPathComponent("seeds"), cache = directory.url.appendingPathComponent("cache")
        try SyncTests.writeSeed(seeds, urls: [(origin.url("/a.jpg"), "300x225"), (origin.url("/b.png"), nil),
                                              (origin.url("/changing.jpg"), nil), (origin.url("/missing.jpg"), nil)])
        var configuration = SyncTests.configuration(cache: cache)
        configuration.minTTL = 0
        _ = try Syncer(seedsDirectory: seeds.path, configuration: configuration).run()
        return (seeds, cache, configuration)
    }

    static func manifest(_ path: String) throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    @Test("the manifest agrees with the cache: every variant file exists, has its bytes and decodes to its size")
    func manifestAgrees() throws {
        let origin = try ImageOrigin()
        origin.set(maxAge: 0)
        let directory = try TemporaryDirectory()
        let (_, cache, configuration) = try Self.syncedCache(origin, directory)
        let out = directory.url.appendingPathComponent("public/img")
        let report = try Exporter.export(cacheDirectory: cache.path, variants: configuration.variants, outputDirectory: out.path,
                                         baseURL: "/img/")
        #expect(report.images == 4)
        #expect(report.files == 18)  // 3 images x 3 variants x (WebP + JPEG)
        #expect(report.linked + report.copied == 18)
        let manifest = try Self.manifest(report.manifestPath)
        let a = try #require(manifest.images[origin.url("/a.jpg")])
        #expect(a.isCached)
        #expect(a.declared == Manifest.Dimensions(width: 300, height: 225))
        #expect(a.width == 300 && a.height == 225)
        #expect(a.placeholder?.blurhash.count == 28)
        #expect(a.placeholder?.color.hasPrefix("#") == true)
        #expect(Set(a.variants.keys) == ["thumb", "card", "large"])
        #expect(a.variants.values.allSatisfy { $0.formats.map(\.type) == ["image/webp", "image/jpeg"] && $0.formats.last?.url == $0.url })
        #expect(a.seeds.count == 1 && a.seeds[0].hasSuffix("article.md"))
        let missing = try #require(manifest.images[origin.url("/missing.jpg")])
        #expect(!missing.isCached && missing.variants.isEmpty && missing.placeholder == nil)
        for image in manifest.images.values {
            for variant in image.variants.values {
                #expect(variant.url.hasPrefix("/img/"))
                let file = out.appendingPathComponent(String(variant.url.dropFirst("/img/".count)))
                let data = try Data(contentsOf: file)
                #expect(data.count == variant.bytes)
                let decoded = try ImageDecoder.decode(data)
                #expect(decoded.bitmap.size == Size(width: variant.width, height: variant.height))
                #expect(decoded.info.format.rawValue == variant.format)
                for format in variant.formats {
                    let data = try Data(contentsOf: out.appendingPathComponent(String(format.url.dropFirst("/img/".count))))
                    let decoded = try ImageDecoder.decode(data)
                    #expect(data.count == format.bytes && decoded.info.format.mediaType == format.type)
                    #expect(decoded.bitmap.size == Size(width: format.width, height: format.height))
                }
            }
        }
    }

    @Test("a second export changes nothing; a changed image's old files go; other files stay")
    func idempotentAndTidy() throws {
        let origin = try ImageOrigin()
        origin.set(maxAge: 0)
        let directory = try TemporaryDirectory()
        let (seeds, cache, configuration) = try Self.syncedCache(origin, directory)
        let out = directory.url.appendingPathComponent("out")
        let first = try Exporter.export(cacheDirectory: cache.path, variants: configuration.variants, outputDirectory: out.path)
        try "keep me".write(to: out.appendingPathComponent("robots.txt"), atomically: true, encoding: .utf8)
        let manifestDate = try FileManager.default.attributesOfItem(atPath: first.manifestPath)[.modificationDate] as? Date

        let second = try Exporter.export(cacheDirectory: cache.path, variants: configuration.variants, outputDirectory: out.path)
        #expect(second.linked == 0 && second.copied == 0 && second.removed == 0)
        #expect(second.unchanged == first.files)
        #expect(!second.manifestWritten)
        #expect(try FileManager.default.attributesOfItem(atPath: second.manifestPath)[.modificationDate] as? Date == manifestDate)

        // The changing image gets new bytes: its six old thumbnails are no longer cached for it.
        let before = try Self.manifest(first.manifestPath).images[origin.url("/changing.jpg")]!.variants.values.map(\.url)
        origin.set(changing: "jpeg/baseline/nuke-baseline.jpeg")
        _ = try Syncer(seedsDirectory: seeds.path, configuration: configuration).run()
        let third = try Exporter.export(cacheDirectory: cache.path, variants: configuration.variants, outputDirectory: out.path)
        #expect(third.linked + third.copied == 6)
        #expect(third.manifestWritten)
        let after = try Self.manifest(third.manifestPath).images[origin.url("/changing.jpg")]!.variants.values.map(\.url)
        #expect(Set(before).isDisjoint(with: after))
        // The old files are still in the cache (prune removes them), so they stay published only if
        // the manifest still names them: it does not.
        for url in before {
            #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent(String(url.dropFirst("/img/".count))).path))
        }
        #expect(third.removed == 6)
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("robots.txt").path))
    }

    @Test("export is fast when nothing changed: 1,000 images well under a second")
    func manyImagesUnchanged() throws {
        // Synthetic index rows and files: the export's own cost, not sync's.
        let directory = try TemporaryDirectory()
        let cache = directory.url.appendingPathComponent("cache")
        let store = try BlobStore(root: cache)
        let index = try CacheIndex(path: cache.appendingPathComponent("index.sqlite").path)
        let variants = SyncTests.variants
        var (objects, sources, thumbnails) = ([ObjectRecord](), [SourceRecord](), [ThumbnailRecord]())
        for n in 0..<1000 {
            let digest = BlobStore.digest("image \(n)")
            objects.append(ObjectRecord(digest: digest, bytes: 10, format: .jpeg, width: 100, height: 100))
            var source = SourceRecord(url: "https://example.com/\(n).jpg", status: .ok)
            source.digest = digest
            source.isCached = true
            sources.append(source)
            for variant in variants {
                let key = variant.fallback.thumbnailKey(digest: digest)
                thumbnails.append(ThumbnailRecord(key: key, digest: digest, variant: variant.name, width: 64, height: 64, format: .jpeg, bytes: 4))
                try store.write(Data([1, 2, 3, 4]), to: store.thumbnailPath(key, fileExtension: "jpg"))
            }
        }
        try index.testing.insert(objects: objects, sources: sources, thumbnails: thumbnails)
        let out = directory.url.appendingPathComponent("out")
        let first = try Exporter.export(cacheDirectory: cache.path, variants: variants, outputDirectory: out.path)
        #expect(first.files == 3000)
        let started = Date()
        let second = try Exporter.export(cacheDirectory: cache.path, variants: variants, outputDirectory: out.path)
        let seconds = Date().timeIntervalSince(started)
        #expect(second.unchanged == 3000 && !second.manifestWritten)
        // Not a timing assertion on the product: recorded for the note (debug build).
        print("export of 1,000 unchanged images: \(String(format: "%.3f", seconds)) s")
    }

    @Test("the binary: export writes the manifest where asked and says what it did")
    func commandLine() throws {
        let origin = try ImageOrigin()
        let directory = try TemporaryDirectory()
        let (_, cache, _) = try Self.syncedCache(origin, directory)
        let config = directory.url.appendingPathComponent("c.yml")
        try "variants:\n  thumb: {size: 64x64}\n  card: {size: 96x54, fit: cover}\n  large: {size: 160x160}\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let manifestPath = directory.url.appendingPathComponent("data/imgcache.json").path
        try FileManager.default.createDirectory(atPath: (manifestPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let result = try Executable.run(["export", "--cache", cache.path, "--config", config.path, "--out",
                                         directory.url.appendingPathComponent("static/img").path, "--manifest", manifestPath])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("18 files"))
        #expect(try Self.manifest(manifestPath).images.count == 4)
    }
}
