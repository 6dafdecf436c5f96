import Foundation
import ImageCore
import ImgCacheKit
import TestSupport
import Testing

/// The example site in examples/hugo-site, built with `hugo` when it is installed: the whole
/// path from seed documents to a built page.
@Suite("Hugo example site")
struct HugoExampleTests {
    static let hugo: String? = ["/usr/bin/hugo", "/usr/local/bin/hugo"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// A copy of examples/hugo-site in `directory`.
    static func exampleSite(in directory: TemporaryDirectory) throws -> URL {
        let site = directory.url.appendingPathComponent("site")
        try FileManager.default.copyItem(at: Fixtures.repositoryRoot.appendingPathComponent("examples/hugo-site"), to: site)
        return site
    }

    /// `hugo` run on `site`, into `site/public`.
    static func build(_ site: URL) throws -> Executable.Result {
        try Executable.runTool(try #require(hugo), ["--source", site.path, "--destination", site.appendingPathComponent("public").path, "--quiet"])
    }

    @Test("sync, export, hugo: a <picture> with AVIF and WebP sources and the JPEG <img>, intrinsic size and the placeholder colour",
          .enabled(if: hugo != nil, "hugo is not installed (apt-get install hugo)"))
    func buildsThePage() throws {
        let origin = try ImageOrigin()
        let directory = try TemporaryDirectory()
        let site = try Self.exampleSite(in: directory)
        let post = """
            ---
            title: "Test post"
            images:
              - url: "\(origin.url("/a.jpg"))"
                width: 300
                height: 225
              - url: "\(origin.url("/missing.jpg"))"
            ---
            Body.
            """
        try post.write(to: site.appendingPathComponent("content/posts/test.md"), atomically: true, encoding: .utf8)
        // The same image from a post with TOML front matter (Hugo's default): synced, written back, rendered.
        let tomlPost = "+++\ntitle = \"TOML post\"\n[[images]]\nurl = \"\(origin.url("/a.jpg"))\"\nwidth = 300\nheight = 225\nisCached = false\n+++\nBody.\n"
        let tomlPath = site.appendingPathComponent("content/posts/toml-test.md")
        try tomlPost.write(to: tomlPath, atomically: true, encoding: .utf8)

        var configuration = Configuration()
        configuration.cacheDirectory = directory.url.appendingPathComponent("cache").path
        configuration.variants = [
            Variant(name: "thumb", spec: ThumbnailSpec(box: Size(width: 64, height: 64)), formats: [.avif, .webp, .auto]),
            Variant(name: "large", spec: ThumbnailSpec(box: Size(width: 160, height: 160)), formats: [.avif, .webp, .auto]),
        ]
        configuration.fetch.addressPolicy.allowedAddresses = ["127.0.0.1"]
        configuration.fetch.maxAttempts = 1
        let syncer = try Syncer(seedsDirectory: site.appendingPathComponent("content").path, configuration: configuration)
        syncer.writeBack = true
        _ = try syncer.run()
        #expect(try String(contentsOf: tomlPath, encoding: .utf8) == tomlPost.replacingOccurrences(of: "isCached = false", with: "isCached = true"))
        _ = try Exporter.export(cacheDirectory: configuration.cacheDirectory, variants: configuration.variants,
                                outputDirectory: site.appendingPathComponent("static/img").path,
                                manifestPath: site.appendingPathComponent("data/imgcache.json").path, baseURL: "/img/")

        let built = try Self.build(site)
        #expect(built.status == 0, "\(built.stderr)")

        let page = try String(contentsOf: site.appendingPathComponent("public/posts/test/index.html"), encoding: .utf8)
        let src = try #require(page.firstMatch(of: /<img src="(\/img\/[0-9a-f]{64}\.jpg)"/)?.1)
        #expect(page.contains(#"width="64" height="48""#))
        #expect(page.contains(" 64w, /img/"))
        #expect(page.contains(" 160w\""))
        #expect(page.contains("background-color: #"))
        #expect(page.contains("data-blurhash=\""))
        #expect(page.contains(#"<img src="\#(origin.url("/missing.jpg"))""#))  // not cached: the origin
        #expect(FileManager.default.fileExists(atPath: site.appendingPathComponent("public" + src).path))
        // One <source> per modern format, best first, each with both sizes; then the fallback <img>.
        let sources = page.matches(of: /<source type="(image\/[a-z]+)" srcset="(\/img\/[0-9a-f]{64}\.([a-z]+)) 64w, (\/img\/[0-9a-f]{64}\.([a-z]+)) 160w"/)
        #expect(sources.map { String($0.1) } == ["image/avif", "image/webp"])
        #expect(sources.allSatisfy { "image/" + $0.3 == $0.1 && $0.5 == $0.3 })
        for source in sources {
            for file in [source.2, source.4] {
                #expect(FileManager.default.fileExists(atPath: site.appendingPathComponent("public" + file).path), "\(file)")
            }
        }
        let tomlPage = try String(contentsOf: site.appendingPathComponent("public/posts/toml-test/index.html"), encoding: .utf8)
        #expect(tomlPage.contains("<img src=\"\(src)\""), "the TOML post shows the same cached image")
        let picture = try #require(page.range(of: "<picture>"))
        #expect(page[picture.upperBound...].range(of: "<source")!.lowerBound < page.range(of: "<img src=\"/img/")!.lowerBound)
    }

    @Test("with srcsetWidths and a signing key: the page's srcsets are signed on-demand URLs on the variant server, every width the image has",
          .enabled(if: hugo != nil, "hugo is not installed (apt-get install hugo)"))
    func signedSrcset() throws {
        let origin = try ImageOrigin()
        let directory = try TemporaryDirectory()
        let site = try Self.exampleSite(in: directory)
        try "---\ntitle: \"Srcset post\"\nimages:\n  - url: \"\(origin.url("/a.jpg"))\"\n---\nBody.\n"
            .write(to: site.appendingPathComponent("content/posts/srcset.md"), atomically: true, encoding: .utf8)
        var configuration = Configuration()
        configuration.cacheDirectory = directory.url.appendingPathComponent("cache").path
        configuration.variants = [Variant(name: "thumb", spec: ThumbnailSpec(box: Size(width: 64, height: 64)), formats: [.auto])]
        configuration.fetch.addressPolicy.allowedAddresses = ["127.0.0.1"]
        configuration.onDemand.srcsetWidths = [100, 200, 400]  // a.jpg is 300 wide: 400 is left out
        configuration.onDemand.signingKeys = ["943b421c9eb07c830af81030552c86009268de4e532ba2ee2eab8247c6da0881"]
        configuration.onDemand.signingSalts = ["520f986b998545b4785e0defbc4f3c1203f22de2374a3d53cb7a7fe9fea309c5"]
        _ = try Syncer(seedsDirectory: site.appendingPathComponent("content").path, configuration: configuration).run()
        _ = try Exporter.export(Cache.open(configuration, for: .reading), variants: configuration.variants,
                                outputDirectory: site.appendingPathComponent("static/img").path,
                                manifestPath: site.appendingPathComponent("data/imgcache.json").path, baseURL: "/img/",
                                variantServer: "https://img.example.com")
        let built = try Self.build(site)
        #expect(built.status == 0, "\(built.stderr)")
        let page = try String(contentsOf: site.appendingPathComponent("public/posts/srcset/index.html"), encoding: .utf8)
        let url = /https:\/\/img\.example\.com\/v\/([A-Za-z0-9_-]{43})\/(w:\d+)\/([0-9a-f]{64}\.[a-z]+) (\d+)w/
        let source = try #require(page.firstMatch(of: /<source type="image\/webp" srcset="([^"]+)"/)?.1)
        let img = try #require(page.firstMatch(of: /<img src="\/img\/[0-9a-f]{64}\.jpg"\s+srcset="([^"]+)"/)?.1)
        let signer = try configuration.onDemand.signer()
        for (srcset, ext) in [(source, "webp"), (img, "jpg")] {
            let items = srcset.matches(of: url)
            #expect(items.map { "\($0.2) \($0.4)w" } == ["w:100 100w", "w:200 200w"], "\(srcset)")
            for item in items {
                #expect(item.3.hasSuffix("." + ext))
                #expect(signer.isValid(item.1, for: "/\(item.2)/\(item.3)"), "a signature the server accepts: \(item.0)")
            }
        }
    }
}
