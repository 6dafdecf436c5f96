import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ImageCodecs
import ImgCacheKit
@testable import ImgCacheServer
import TestSupport
import Testing

@Suite("Serving formats: Accept negotiation and every format's immutable URL")
struct FormatServingTests {
    static let all: [OutputFormat] = [.avif, .webp, .auto]

    @Test("the Accept table: explicit types with q above 0 choose a modern format; wildcards mean the fallback", arguments: [
        (nil, [OutputFormat.avif, .webp, .auto], 2),
        ("image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", all, 0),  // Chrome
        ("image/webp,*/*", all, 1),  // Firefox 65 to 91
        ("image/webp,image/avif,*/*", all, 0),  // equal q: the configured order
        ("*/*", all, 2),
        ("image/*", all, 2),
        ("image/avif;q=0.5, image/webp;q=0.9", all, 1),
        ("image/avif;q=0, image/webp", all, 1),
        ("image/avif;q=0,image/webp;q=0", all, 2),
        ("IMAGE/AVIF", all, 0),
        ("image/avif;q=bogus", all, 2),
        ("text/html", all, 2),
        ("", all, 2),
        ("image/avif", [.webp, .auto], 1),
        ("image/webp", [.webp, .png], 0),
    ] as [(String?, [OutputFormat], Int)])
    func table(accept: String?, available: [OutputFormat], expected: Int) {
        #expect(FormatNegotiation.choose(accept: accept, available: available) == expected)
    }

    @Test("nothing acceptable cached: no answer (the router says 404), never a format the client did not ask for")
    func onlyModernCached() {
        #expect(FormatNegotiation.choose(accept: "*/*", available: [.webp]) == nil)
        #expect(FormatNegotiation.choose(accept: "image/webp", available: [.webp]) == 0)
    }

    @Test("/v1/image answers 302 to the negotiated format with Vary: Accept; format= overrides; each URL serves its type")
    func router() async throws {
        let served = try ServedCache()
        let a = escape(served.origin.url("/a.jpg"))
        let chrome = "image/avif,image/webp,image/apng,image/*,*/*;q=0.8"
        try await served.application.test(.router) { client in
            var locations: [String: String] = [:]
            for (accept, ext) in [(chrome, "avif"), ("image/webp,*/*", "webp"), ("*/*", "jpg")] {
                try await client.execute(uri: "/v1/image?url=\(a)&variant=card", method: .get, headers: [.accept: accept]) { response in
                    #expect(response.status == .found)
                    #expect(response.headers[.vary] == "Accept")
                    let location = try #require(response.headers[.location])
                    #expect(location.hasSuffix("/card.\(ext)"), "\(accept): \(location)")
                    locations[ext] = location
                }
            }
            try await client.execute(uri: "/v1/image?url=\(a)&variant=card&format=webp", method: .get, headers: [.accept: chrome]) { response in
                #expect(response.headers[.location]?.hasSuffix("/card.webp") == true)
            }
            try await client.execute(uri: "/v1/image?url=\(a)&variant=card&format=gif", method: .get) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("no format 'gif'"))
            }
            // The thumb variant has no AVIF: Chrome gets its WebP.
            try await client.execute(uri: "/v1/image?url=\(a)&variant=thumb", method: .get, headers: [.accept: chrome]) { response in
                #expect(response.headers[.location]?.hasSuffix("/thumb.webp") == true)
            }
            for (ext, location) in locations {
                try await client.execute(uri: location, method: .get) { response in
                    #expect(response.status == .ok)
                    let format = try #require(ImageFormat(fileExtension: ext))
                    #expect(response.headers[.contentType] == format.mediaType)
                    let decoded = try ImageDecoder.decode(Data(buffer: response.body))
                    #expect(decoded.info.format == format)
                }
            }
            // An extension the variant does not write is a 404, not another format's bytes.
            let avif = try #require(locations["avif"])
            try await client.execute(uri: avif.replacingOccurrences(of: "/card.avif", with: "/thumb.avif"), method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test("GIF originals (still, transparent, animated) sync cached; served at /o/<sha256>.gif as image/gif; the fallback is the first frame, the WebP of an animation is animated")
    func gifOriginals() async throws {
        let served = try ServedCache(seeds: [("/still.gif", nil), ("/clear.gif", nil), ("/moving.gif", nil)])
        try await served.application.test(.router) { client in
            for (path, transparent) in [("/still.gif", false), ("/clear.gif", true), ("/moving.gif", true)] {
                let source = try #require(try served.service.index.source(served.origin.url(path)))
                #expect(source.isCached, "\(path): \(source.lastError ?? "")")
                let digest = try #require(source.digest)
                #expect(try served.service.index.object(digest)?.format == .gif)
                let original = try Fixtures.data(ImageOrigin.images[path]!)
                try await client.execute(uri: "/o/\(digest).gif", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == "image/gif")
                    #expect(Data(buffer: response.body) == original)
                }
                let thumbnail = try served.thumbnailURL(path)
                #expect(thumbnail.hasSuffix(transparent ? ".png" : ".jpg"), "\(path): \(thumbnail)")
                try await client.execute(uri: thumbnail, method: .get) { response in
                    #expect(response.status == .ok)
                    let decoded = try ImageDecoder.decode(Data(buffer: response.body))
                    #expect(decoded.bitmap.hasTransparency == transparent, "\(path)")
                    #expect(decoded.info.frames == 1, "the fallback is the first frame")
                }
                // The WebP of the animation is animated: every frame, the timing and the loop count kept.
                let webp = try #require(try served.service.immutableURLs(for: served.origin.url(path), variant: "thumb")
                    .first { $0.format == .webp }?.url)
                try await client.execute(uri: webp, method: .get) { response in
                    let decoded = try ImageDecoder.decode(Data(buffer: response.body))
                    let animated = path == "/moving.gif"
                    #expect(decoded.info.frames == (animated ? 3 : 1) && decoded.info.durationMilliseconds == (animated ? 600 : 0),
                            "\(path): \(decoded.info.frames) frames, \(decoded.info.durationMilliseconds) ms")
                }
            }
        }
    }
}

@Suite("Serving formats: every format the web serves")
struct WebFormatsTests {
    /// Each kind of file, what its original is served as, and whether its thumbnail keeps transparency.
    static let files: [(path: String, format: ImageFormat, transparent: Bool)] = [
        ("/still.gif", .gif, false), ("/moving.gif", .gif, true), ("/photo.tiff", .tiff, false), ("/photo.heic", .heic, false),
        ("/photo.jxl", .jxl, false), ("/pic.bmp", .bmp, false), ("/favicon.ico", .ico, true), ("/logo.svg", .svg, true),
        ("/moving.webp", .webp, true), ("/moving.png", .png, true),
    ]

    @Test("a seed listing a GIF, an animated GIF, a TIFF, a HEIC, a JPEG XL, a BMP, an ICO, an SVG, an animated WebP and an APNG syncs every entry cached, the animations animated in WebP; each original is served at /o/<sha256>.<its extension> as its type, the SVG sandboxed")
    func everyFormat() async throws {
        let served = try ServedCache(seeds: Self.files.map { ($0.path, nil) })
        try await served.application.test(.router) { client in
            for file in Self.files {
                let source = try #require(try served.service.index.source(served.origin.url(file.path)))
                #expect(source.isCached, "\(file.path): \(source.lastError ?? "")")
                let digest = try #require(source.digest)
                #expect(try served.service.index.object(digest)?.format == file.format, "\(file.path)")
                let original = try Fixtures.data(ImageOrigin.images[file.path]!)
                try await client.execute(uri: "/o/\(digest).\(file.format.fileExtension)", method: .get) { response in
                    #expect(response.status == .ok && response.headers[.contentType] == file.format.mediaType, "\(file.path)")
                    #expect(Data(buffer: response.body) == original)
                    #expect(response.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
                    let policy = response.headers[HTTPField.Name("Content-Security-Policy")!]
                    #expect(policy == (file.format == .svg ? "default-src 'none'; style-src 'unsafe-inline'; sandbox" : nil), "\(file.path): \(policy ?? "none")")
                }
                let thumbnail = try served.thumbnailURL(file.path)
                #expect(thumbnail.hasSuffix(file.transparent ? ".png" : ".jpg"), "\(file.path): \(thumbnail)")
                try await client.execute(uri: thumbnail, method: .get) { response in
                    #expect(response.status == .ok)
                    let decoded = try ImageDecoder.decode(Data(buffer: response.body))
                    #expect(decoded.bitmap.hasTransparency == file.transparent, "\(file.path)")
                }
            }
            // The manifest says which image is an animation, its frames and duration; stills say nothing.
            try await client.execute(uri: "/v1/manifest", method: .get) { response in
                let manifest = try JSONDecoder().decode(Manifest.self, from: Data(buffer: response.body))
                for path in ["/moving.gif", "/moving.webp", "/moving.png"] {
                    let moving = try #require(manifest.images[served.origin.url(path)])
                    #expect(moving.animated == true && moving.frames == 3 && moving.duration == 600, "\(path): \(moving)")
                    // Its WebP variant is animated: every frame and the timing kept.
                    let webp = try #require(try served.service.immutableURLs(for: served.origin.url(path), variant: "thumb")
                        .first { $0.format == .webp }?.url)
                    try await client.execute(uri: webp, method: .get) { response in
                        let decoded = try ImageDecoder.decode(Data(buffer: response.body))
                        #expect(decoded.info.frames == 3 && decoded.info.durationMilliseconds == 600, "\(path)")
                    }
                }
                for file in Self.files where !file.path.hasPrefix("/moving.") {
                    let image = try #require(manifest.images[served.origin.url(file.path)])
                    #expect(image.animated == nil && image.frames == nil && image.duration == nil, "\(file.path)")
                }
            }
        }
    }
}
