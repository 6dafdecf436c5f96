import CacheStore
import Fetching
import Foundation
import Hummingbird
import HummingbirdTesting
import ImageCore
import ImgCacheKit
import ImgCacheServer
import TestSupport
import Testing

/// A synced cache in a temporary folder, and the router over it.
final class ServedCache: @unchecked Sendable {
    let directory: TemporaryDirectory
    let origin: ImageOrigin
    let cache: URL
    let variants = [
        Variant(name: "thumb", spec: ThumbnailSpec(box: Size(width: 64, height: 64), fit: .inside)),
        Variant(name: "card", spec: ThumbnailSpec(box: Size(width: 96, height: 54), fit: .cover)),
    ]
    let service: CacheService

    init() throws {
        directory = try TemporaryDirectory()
        origin = try ImageOrigin()
        let seeds = directory.url.appendingPathComponent("seeds")
        cache = directory.url.appendingPathComponent("cache")
        try SeedFiles.write(seeds, urls: [(origin.url("/a.jpg"), nil), (origin.url("/b.png"), nil), (origin.url("/missing.jpg"), nil)])
        var configuration = SyncConfiguration()
        configuration.cacheDirectory = cache.path
        configuration.variants = variants
        configuration.fetch.addressPolicy = AddressPolicy(allowedAddresses: ["127.0.0.1"])
        _ = try Syncer(seedsDirectory: seeds.path, configuration: configuration).run()
        service = try CacheService(cacheDirectory: cache.path, variants: variants)
    }

    var application: some ApplicationProtocol {
        Application(router: buildRouter(service: service, metrics: ServerMetrics()))
    }

    func thumbnailURL(_ path: String, _ variant: String = "thumb") throws -> String {
        try #require(try service.immutableURL(for: origin.url(path), variant: variant))
    }
}

@Suite("imgcache serve", .serialized)
struct ServerTests {
    @Test("a thumbnail: 200 with a strong ETag, immutable caching, type and length; the bytes are the cached file")
    func thumbnail() async throws {
        let served = try ServedCache()
        let url = try served.thumbnailURL("/a.jpg")
        #expect(url.hasPrefix("/t/") && url.hasSuffix("/thumb.jpg"))
        try await served.application.test(.router) { client in
            try await client.execute(uri: url, method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.cacheControl] == "public, max-age=31536000, immutable")
                #expect(response.headers[.contentType] == "image/jpeg")
                let etag = try #require(response.headers[.eTag])
                #expect(etag.hasPrefix("\"") && !etag.hasPrefix("W/"))
                #expect(response.headers[.contentLength] == String(response.body.readableBytes))
                let bitmap = try ImageDecoderShim.decode(Data(buffer: response.body))
                #expect(bitmap.size == Size(width: 64, height: 48))  // flower2.jpg 300x225
            }
        }
    }

    @Test("If-None-Match gives 304 without a body; HEAD gives the headers without a body")
    func conditionalAndHead() async throws {
        let served = try ServedCache()
        let url = try served.thumbnailURL("/b.png", "card")
        try await served.application.test(.router) { client in
            let etag = try await client.execute(uri: url, method: .get) { response in
                #expect(response.headers[.contentType] == "image/png")
                return try #require(response.headers[.eTag])
            }
            try await client.execute(uri: url, method: .get, headers: [.ifNoneMatch: etag]) { response in
                #expect(response.status == .notModified)
                #expect(response.body.readableBytes == 0)
                #expect(response.headers[.eTag] == etag)
            }
            try await client.execute(uri: url, method: .head) { response in
                #expect(response.status == .ok)
                #expect(response.body.readableBytes == 0)
                #expect(Int(response.headers[.contentLength] ?? "") ?? 0 > 0)
            }
        }
    }

    @Test("originals are served by digest with the stored format's extension")
    func original() async throws {
        let served = try ServedCache()
        let digest = String(try served.thumbnailURL("/a.jpg").split(separator: "/")[1])
        let original = try Fixtures.data("jpeg/metadata/flower2.jpg")
        try await served.application.test(.router) { client in
            try await client.execute(uri: "/o/\(digest).jpg", method: .get) { response in
                #expect(response.status == .ok)
                #expect(Data(buffer: response.body) == original)
            }
            try await client.execute(uri: "/o/\(digest).png", method: .get) { response in #expect(response.status == .notFound) }
        }
    }

    @Test("traversal and malformed paths are refused, never read", arguments: [
        "/t/..%2f..%2fetc%2fpasswd/thumb.jpg", "/t/%252e%252e/thumb.jpg", "/t/abc%00/thumb.jpg", "/t/..\\\\..\\\\x/thumb.jpg",
        "/t/0123/thumb.jpg", "/t/\(String(repeating: "g", count: 64))/thumb.jpg", "/t/\(String(repeating: "A", count: 64))/thumb.jpg",
        "/t/\(String(repeating: "0", count: 64))/thumb.jpg", "/o/../../etc/passwd", "/o/index.sqlite", "/t/x", "/nope",
    ])
    func refused(path: String) async throws {
        let served = try ServedCache()
        try await served.application.test(.router) { client in
            try await client.execute(uri: path, method: .get) { response in
                #expect(response.status == .notFound || response.status == .badRequest, "\(path): \(response.status)")
                #expect(response.headers[.contentType] != "image/jpeg")
            }
        }
    }

    @Test("an unknown variant or extension for a real digest is 404")
    func unknownVariant() async throws {
        let served = try ServedCache()
        let digest = String(try served.thumbnailURL("/a.jpg").split(separator: "/")[1])
        try await served.application.test(.router) { client in
            for file in ["large.jpg", "thumb.png", "thumb.gif", "thumb", "../thumb.jpg"] {
                try await client.execute(uri: "/t/\(digest)/\(file)", method: .get) { response in
                    #expect(response.status == .notFound, "\(file)")
                }
            }
        }
    }

    @Test("/v1/image redirects to the immutable URL; 404 JSON when not cached; fallback=origin redirects to the source")
    func imageRedirect() async throws {
        let served = try ServedCache()
        let a = served.origin.url("/a.jpg"), missing = served.origin.url("/missing.jpg")
        let card = try served.thumbnailURL("/a.jpg", "card")
        try await served.application.test(.router) { client in
            try await client.execute(uri: "/v1/image?url=\(escape(a))&variant=card", method: .get) { response in
                #expect(response.status == .found)
                #expect(response.headers[.location] == card)
            }
            try await client.execute(uri: "/v1/image?url=\(escape(missing))&variant=thumb", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/json")
                #expect(String(buffer: response.body).contains("not cached"))
            }
            try await client.execute(uri: "/v1/image?url=\(escape(missing))&variant=thumb&fallback=origin", method: .get) { response in
                #expect(response.status == .found)
                #expect(response.headers[.location] == missing)
            }
            try await client.execute(uri: "/v1/image?url=\(escape(a))&variant=huge", method: .get) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/v1/image?url=\(escape("javascript:alert(1)"))&fallback=origin", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test("/v1/manifest agrees with the cache, /healthz answers, /metrics counts requests and hits")
    func manifestHealthMetrics() async throws {
        let served = try ServedCache()
        try await served.application.test(.router) { client in
            let manifest = try await client.execute(uri: "/v1/manifest", method: .get) { response in
                #expect(response.status == .ok)
                return try JSONDecoder().decode(Manifest.self, from: Data(buffer: response.body))
            }
            #expect(manifest.images.count == 3)
            let a = try #require(manifest.images[served.origin.url("/a.jpg")])
            #expect(a.variants["thumb"]?.url == (try served.thumbnailURL("/a.jpg")))
            #expect(a.placeholder != nil)
            for variant in a.variants.values {
                try await client.execute(uri: variant.url, method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.body.readableBytes == variant.bytes)
                }
            }
            try await client.execute(uri: "/v1/manifest?seed=article.md", method: .get) { response in
                let filtered = try JSONDecoder().decode(Manifest.self, from: Data(buffer: response.body))
                #expect(filtered.images.count == 3)
            }
            try await client.execute(uri: "/v1/manifest?seed=other.md", method: .get) { response in
                let filtered = try JSONDecoder().decode(Manifest.self, from: Data(buffer: response.body))
                #expect(filtered.images.isEmpty)
            }
            try await client.execute(uri: "/t/\(String(repeating: "0", count: 64))/thumb.jpg", method: .get) { _ in }
            try await client.execute(uri: "/healthz", method: .get) { response in #expect(String(buffer: response.body) == "ok\n") }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains(#"imgcache_http_requests_total{route="thumbnail",status="200"} 2"#))
                #expect(text.contains(#"imgcache_http_requests_total{route="thumbnail",status="404"} 1"#))
                #expect(text.contains("imgcache_cache_hits_total 2"))
                #expect(text.contains("imgcache_cache_misses_total 1"))
                #expect(text.contains("imgcache_objects 2"))
                #expect(text.contains("imgcache_http_bytes_served_total"))
            }
        }
    }

    @Test("the real server on a free port, fetched with libcurl")
    func live() async throws {
        let served = try ServedCache()
        let url = try served.thumbnailURL("/a.jpg")
        try await served.application.test(.live) { client in
            let port = try #require(client.port)
            var configuration = FetchConfiguration()
            configuration.addressPolicy = AddressPolicy(allowedAddresses: ["127.0.0.1"])
            let fetcher = CurlFetcher(configuration: configuration)
            var outcomes: [FetchOutcome] = []
            let requests = [FetchRequest(url: "http://127.0.0.1:\(port)\(url)"),
                            FetchRequest(url: "http://127.0.0.1:\(port)/healthz")]
            fetcher.fetchAll(requests) { _, outcome in outcomes.append(outcome) }
            #expect(outcomes.count == 2)
            for outcome in outcomes {
                guard case .fetched(let response) = outcome else { Issue.record("\(outcome)"); continue }
                if response.effectiveURL.hasSuffix("thumb.jpg") {
                    #expect(response.headers["etag"] != nil)
                    let bitmap = try ImageDecoderShim.decode(response.body)
                    #expect(bitmap.size == Size(width: 64, height: 48))
                }
            }
        }
    }
}

func escape(_ text: String) -> String {
    text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
}

import ImageCodecs
enum ImageDecoderShim {
    static func decode(_ data: Data) throws -> Bitmap { try ImageDecoder.decode(data).bitmap }
}
