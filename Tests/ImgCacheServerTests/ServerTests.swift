@_spi(Testing) import CacheStore
import Fetching
import Foundation
import Hummingbird
import HummingbirdTesting
import ImageCodecs
import ImageCore
import ImgCacheKit
import ImgCacheServer
import TestSupport
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A synced cache in a temporary folder, and the router over it.
final class ServedCache: @unchecked Sendable {
    let directory: TemporaryDirectory
    let origin: ImageOrigin
    let cache: URL
    let variants = [
        Variant(name: "thumb", spec: ThumbnailSpec(box: Size(width: 64, height: 64), fit: .inside)),
        Variant(name: "card", spec: ThumbnailSpec(box: Size(width: 96, height: 54), fit: .cover), formats: [.avif, .webp, .auto]),
    ]
    let service: CacheService

    /// A cache synced from seeds naming `seeds` (origin paths, with an optional declared "WxH").
    init(seeds paths: [(String, String?)] = [("/a.jpg", nil), ("/b.png", nil), ("/missing.jpg", nil)]) throws {
        directory = try TemporaryDirectory()
        let origin = try ImageOrigin()
        self.origin = origin
        let seeds = directory.url.appendingPathComponent("seeds")
        cache = directory.url.appendingPathComponent("cache")
        try SeedFiles.write(seeds, urls: paths.map { (origin.url($0.0), $0.1) })
        var configuration = ImgCacheKit.Configuration()
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
            // A list naming it (with spaces and a tab), or "*": 304; a list without it: 200.
            for (header, status) in [("\"other\", \t\(etag) ", HTTPResponse.Status.notModified), (" * ", .notModified),
                                     ("\"other\", W/\"x\"", .ok)] {
                try await client.execute(uri: url, method: .get, headers: [.ifNoneMatch: header]) { response in
                    #expect(response.status == status, "\(header)")
                }
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

    @Test("range requests: a-b, a- and -n give 206 with exactly those bytes; past the end 416; If-Range of another version the whole file")
    func ranges() async throws {
        let served = try ServedCache()
        let digest = String(try served.thumbnailURL("/a.jpg").split(separator: "/")[1])
        let original = try Fixtures.data("jpeg/metadata/flower2.jpg")
        let size = original.count
        let cases: [(String, Range<Int>)] = [("bytes=0-99", 0..<100), ("bytes=100-", 100..<size), ("bytes=-50", (size - 50)..<size),
                                             ("bytes=\(size - 10)-\(size + 1000)", (size - 10)..<size)]
        try await served.application.test(.router) { client in
            for (header, expected) in cases {
                try await client.execute(uri: "/o/\(digest).jpg", method: .get, headers: [.range: header]) { response in
                    #expect(response.status == .partialContent, "\(header)")
                    #expect(Data(buffer: response.body) == original[expected], "\(header)")
                    #expect(response.headers[.contentRange] == "bytes \(expected.lowerBound)-\(expected.upperBound - 1)/\(size)")
                    #expect(response.headers[.contentLength] == String(expected.count))
                }
            }
            try await client.execute(uri: "/o/\(digest).jpg", method: .get, headers: [.range: "bytes=\(size)-"]) { response in
                #expect(response.status == .rangeNotSatisfiable && response.headers[.contentRange] == "bytes */\(size)")
            }
            for header in ["bytes=0-1,5-6", "items=0-1", "bytes=9-3", "bytes=x-"] {
                try await client.execute(uri: "/o/\(digest).jpg", method: .get, headers: [.range: header]) { response in
                    #expect(response.status == .ok && Data(buffer: response.body) == original, "\(header) is ignored")
                }
            }
            try await client.execute(uri: "/o/\(digest).jpg", method: .get, headers: [.range: "bytes=0-9", .ifRange: "\"other\""]) { response in
                #expect(response.status == .ok && Data(buffer: response.body) == original)
            }
            try await client.execute(uri: "/o/\(digest).jpg", method: .get, headers: [.range: "bytes=0-9", .ifRange: "\"\(digest)\""]) { response in
                #expect(response.status == .partialContent && Data(buffer: response.body) == original[0..<10])
            }
            try await client.execute(uri: "/o/\(digest).jpg", method: .head) { response in
                #expect(response.headers[.acceptRanges] == "bytes")
            }
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

    @Test("/v1/image redirects to the immutable URL; 404 JSON when not cached; fallback=origin redirects only to a source the index knows")
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
            // Not an open redirect: an https URL no seed named is answered 404, not sent on.
            try await client.execute(uri: "/v1/image?url=\(escape("https://evil.example/phish"))&fallback=origin", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.location] == nil)
            }
        }
    }

    @Test("/v1/manifest: an ETag from the index generation and 304; the same bytes until the index changes; seed, section, pages, NDJSON")
    func manifestCaching() async throws {
        let served = try ServedCache()
        try await served.application.test(.router) { client in
            let (etag, body) = try await client.execute(uri: "/v1/manifest", method: .get) { response in
                (try #require(response.headers[.eTag]), Data(buffer: response.body))
            }
            #expect(etag.hasPrefix("W/\"g"))
            try await client.execute(uri: "/v1/manifest", method: .get) { response in
                #expect(response.headers[.eTag] == etag && Data(buffer: response.body) == body)
            }
            try await client.execute(uri: "/v1/manifest", method: .get, headers: [.ifNoneMatch: etag]) { response in
                #expect(response.status == .notModified)
                #expect(response.body.readableBytes == 0)
            }
            // A write to the index (another process's sync or prune) is a new manifest.
            try served.service.index.testing.setDeclaredSize(served.origin.url("/a.jpg"), width: 77, height: 55)
            let changed = try await client.execute(uri: "/v1/manifest", method: .get, headers: [.ifNoneMatch: etag]) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.eTag] != etag)
                return try JSONDecoder().decode(Manifest.self, from: Data(buffer: response.body))
            }
            #expect(changed.images[served.origin.url("/a.jpg")]?.declared?.width == 77)
            #expect(try JSONDecoder().decode(Manifest.self, from: body).images.count == changed.images.count)

            // Pages of one URL each, in URL order, until `next` is absent.
            var seen: [String] = []
            var cursor: String?
            repeat {
                let query = "/v1/manifest?limit=1" + (cursor.map { "&after=\(escape($0))" } ?? "")
                let page = try await client.execute(uri: query, method: .get) { response in
                    try JSONDecoder().decode(Manifest.self, from: Data(buffer: response.body))
                }
                #expect(page.images.count == 1)
                seen += page.images.keys
                cursor = page.next
            } while cursor != nil && seen.count < 10
            #expect(seen == changed.images.keys.sorted())
            try await client.execute(uri: "/v1/manifest?limit=0", method: .get) { response in #expect(response.status == .badRequest) }
            try await client.execute(uri: "/v1/manifest?seed=other.md&limit=5", method: .get) { response in
                let page = try JSONDecoder().decode(Manifest.self, from: Data(buffer: response.body))
                #expect(page.images.isEmpty)
            }
            // The seed's folder as a section: every URL; another folder: none; both at once: 400.
            let section = try await client.execute(uri: "/v1/manifest?section=.", method: .get) { response in
                try JSONDecoder().decode(Manifest.self, from: Data(buffer: response.body))
            }
            #expect(section.images.isEmpty, "seed paths are relative: no folder is named '.'")
            try await client.execute(uri: "/v1/manifest?seed=a&section=b", method: .get) { response in #expect(response.status == .badRequest) }
            try await client.execute(uri: "/v1/manifest?format=xml", method: .get) { response in #expect(response.status == .badRequest) }
            // NDJSON: by format= or by Accept, a line per image with its url, its own tag.
            let lines = try await client.execute(uri: "/v1/manifest", method: .get, headers: [.accept: "application/x-ndjson"]) { response in
                #expect(response.headers[.contentType] == "application/x-ndjson")
                #expect(response.headers[.eTag] != nil && response.headers[.eTag] != etag)
                return String(buffer: response.body).split(separator: "\n")
            }
            #expect(lines.count == changed.images.count)
            for line in lines {
                let url = try JSONDecoder().decode(ManifestLine.self, from: Data(line.utf8)).url
                #expect(try JSONDecoder().decode(Manifest.Image.self, from: Data(line.utf8)) == changed.images[url])
            }
        }
    }

    @Test("/readyz answers 503 naming the index when it cannot be read, the manifest a 503 or a stream cut short (counted); /healthz stays 200 (alive)")
    func readinessReportsIndex() async throws {
        let served = try ServedCache()
        try served.service.index.testing.addFillerSources(2_000)
        try served.service.index.testing.checkpoint()
        try await served.application.test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { response in #expect(response.status == .ok) }
        }
        // The sources table's root page: every read of the table meets it (the middle of the
        // file may be one of the search indexes' pages, which a manifest does not read).
        let root = try served.service.index.testing.rootPageOffset(of: "sources")
        try IndexDamage.garble(served.cache.appendingPathComponent("index.sqlite").path, at: root.offset, length: root.size)
        // A replica that opens the damaged index.
        let service = try CacheService(cacheDirectory: served.cache.path, variants: served.variants)
        let application = Application(router: buildRouter(service: service, metrics: ServerMetrics()))
        try await application.test(.router) { client in
            // The manifest streams pages: damage met in the first page is a 503 with a JSON
            // reason; met later, the body ends without its last chunk and is counted. Never a
            // whole manifest.
            var cutShort = false
            do {
                try await client.execute(uri: "/v1/manifest", method: .get) { response in
                    #expect(response.status == .serviceUnavailable)
                    #expect(response.headers[.retryAfter] != nil)
                    #expect(String(buffer: response.body) == #"{"error":"the cache index cannot be read now; retry shortly"}"#)
                }
            } catch {
                cutShort = true
            }
            let limited = try await client.execute(uri: "/v1/manifest?limit=1", method: .get) { response in
                // One image: the first page of the B-tree, sound or not.
                #expect(response.status == .ok || response.status == .serviceUnavailable)
                return response.status
            }
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let answer = try JSONDecoder().decode(ReadyAnswer.self, from: Data(buffer: response.body))
                #expect(!answer.ready)
                let index = try #require(answer.checks.first { $0.name == "index" })
                #expect(!index.ok && index.problem?.hasPrefix("the cache index cannot be read: ") == true)
                #expect(index.problem?.contains("malformed") == true)
                #expect(answer.checks.first { $0.name == "store" }?.ok == true)
            }
            try await client.execute(uri: "/healthz", method: .get) { response in #expect(response.status == .ok) }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains(#"imgcache_ready{check="index"} 0"#))
                #expect(cutShort ? text.contains(#"imgcache_streams_cut_short_total{route="manifest",reason="index"} 1"#)
                                 : text.contains(#"imgcache_http_requests_total{route="manifest",status="503"} "# + (limited == .ok ? "1" : "2")),
                        "\(text)")
            }
        }
    }

    @Test("HEAD of /healthz, /metrics and /v1/manifest: the GET's status and headers, no body")
    func headOfEveryRoute() async throws {
        let served = try ServedCache()
        try await served.application.test(.live) { client in
            for path in ["/healthz", "/metrics", "/v1/manifest"] {
                let get = try await client.execute(uri: path, method: .get) { $0 }
                let head = try await client.execute(uri: path, method: .head) { $0 }
                #expect(head.status == get.status && get.status == .ok, "\(path)")
                #expect(head.body.readableBytes == 0 && get.body.readableBytes > 0, "\(path)")
                #expect(head.headers[.contentType] == get.headers[.contentType], "\(path)")
            }
            let manifest = try await client.execute(uri: "/v1/manifest", method: .head) { $0 }
            #expect(manifest.headers[.eTag] != nil)
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
                // The allocator's figures: jemalloc's resident bytes, some megabytes in any process.
                let resident = text.split(separator: "\n").first { $0.hasPrefix(#"imgcache_allocator_bytes{kind="resident"} "#) }
                #expect((resident?.split(separator: " ").last.flatMap { Double($0) } ?? 0) > 1_000_000, "\(text)")
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
            let requests = [FetchRequest(url: "http://127.0.0.1:\(port)\(url)"),
                            FetchRequest(url: "http://127.0.0.1:\(port)/healthz")]
            // The blocking transfer runs on a thread of its own: on the cooperative pool it would
            // hold one of the (two) threads the server's handlers need.
            let outcomes = try await SocketHelper.offPool { [configuration] in
                let fetcher = CurlFetcher(configuration: configuration)
                let collected = Mutex<[FetchOutcome]>([])
                fetcher.fetchAll(requests) { _, outcome in collected.withLock { $0.append(outcome) } }
                return collected.withLock { $0 }
            }
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

enum ImageDecoderShim {
    static func decode(_ data: Data) throws -> Bitmap { try ImageDecoder.decode(data).bitmap }
}

@Suite("imgcache serve: access ledger, shutdown, slow clients", .serialized)
struct ServerLifecycleTests {
    @Test("served originals are recorded in the access ledger in one batch, not per request")
    func accessLedger() async throws {
        let served = try ServedCache()
        let log = AccessLog(index: served.service.index)
        let url = try served.thumbnailURL("/a.jpg")
        let digest = String(url.split(separator: "/")[1])
        let app = Application(router: buildRouter(service: served.service, metrics: ServerMetrics(), accessLog: log))
        try await app.test(.router) { client in
            for _ in 0..<5 { try await client.execute(uri: url, method: .get) { _ in } }
        }
        let rowsBefore = try served.service.index.testing.count(.access)
        #expect(rowsBefore == 0)  // nothing written per request
        #expect(try log.flush() == 1)
        #expect(try log.flush() == 0)
        let last = try served.service.index.testing.lastAccess(digest)
        #expect(abs((last ?? .distantPast).timeIntervalSinceNow) < 60)
    }

    @Test("many slow clients holding connections do not stop a normal client being served")
    func slowClients() async throws {
        let served = try ServedCache()
        try await served.application.test(.live) { client in
            let port = try #require(client.port)
            // 200 connections, each sending half a request line and then nothing.
            var sockets: [Int32] = []
            defer { for s in sockets { close(s) } }
            for _ in 0..<200 {
                let fd = try SocketHelper.connect(port: port)
                // 25 bytes: the request line and the start of a header name (no terminating NUL,
                // which the server would answer at once with 400).
                let partial = Array("GET /healthz HTTP/1.1\r\nHo".utf8)
                _ = send(fd, partial, partial.count, Int32(MSG_NOSIGNAL))
                sockets.append(fd)
            }
            var configuration = FetchConfiguration()
            configuration.addressPolicy = AddressPolicy(allowedAddresses: ["127.0.0.1"])
            // No deadline that a busy machine could miss: this server has no idle timeout, so it
            // never closes the slow connections, and an answer while they are all still open
            // (checked below) is what shows they did not hold it up.
            configuration.totalTimeout = 300
            configuration.maxAttempts = 1
            // On a thread of its own: blocking a cooperative thread could starve the server under test.
            let outcome = try await SocketHelper.offPool { [configuration] () -> FetchOutcome? in
                var outcome: FetchOutcome?
                CurlFetcher(configuration: configuration).fetchAll([FetchRequest(url: "http://127.0.0.1:\(port)/healthz")]) { _, o in outcome = o }
                return outcome
            }
            guard case .fetched(let response) = outcome else { Issue.record("not served: \(String(describing: outcome))"); return }
            #expect(String(decoding: response.body, as: UTF8.self) == "ok\n")
            // Each slow connection is still open and unanswered: nothing to read yet, no end of stream.
            let peeks = sockets.map { fd -> (Int, Int32, String) in
                var bytes = [UInt8](repeating: 0, count: 200)
                let n = recv(fd, &bytes, 200, Int32(MSG_PEEK | MSG_DONTWAIT))
                return (n, n < 0 ? errno : 0, String(decoding: bytes.prefix(max(0, n)), as: UTF8.self))
            }
            let held = peeks.filter { $0.0 < 0 && $0.1 == EAGAIN }
            #expect(held.count == sockets.count, "answered while every slow connection was held: \(peeks.filter { $0.0 >= 0 }.prefix(3))")
        }
    }

    @Test("SIGTERM stops the server gracefully (exit 0) and flushes the access ledger")
    func gracefulShutdown() throws {
        let served = try ServedCache()
        let port = try SocketHelper.freePort()
        let config = served.directory.url.appendingPathComponent("c.yml")
        try "variants:\n  thumb: {size: 64x64}\n  card: {size: 96x54, fit: cover}\n".write(to: config, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = Executable.imgcache
        process.arguments = ["serve", "--port", String(port), "--cache", served.cache.path, "--config", config.path, "--log-level", "warning"]
        process.standardError = FileHandle.nullDevice
        try process.run()
        var configuration = FetchConfiguration()
        configuration.addressPolicy = AddressPolicy(allowedAddresses: ["127.0.0.1"])
        configuration.maxAttempts = 1
        let fetcher = CurlFetcher(configuration: configuration)
        let url = try served.thumbnailURL("/a.jpg")
        var ready = false
        for _ in 0..<100 where !ready {
            var outcome: FetchOutcome?
            fetcher.fetchAll([FetchRequest(url: "http://127.0.0.1:\(port)\(url)")]) { _, o in outcome = o }
            if case .fetched = outcome { ready = true } else { Thread.sleep(forTimeInterval: 0.1) }
        }
        #expect(ready)
        // A keep-alive connection whose last answer came from the hot path: shutdown closes it
        // at once (the idle timeout, 30 s, would be too late for the deadline below).
        let kept = try SocketHelper.connect(port: port, timeout: 10)
        defer { close(kept) }
        SocketHelper.send(kept, "GET \(url) HTTP/1.1\r\nHost: test\r\n\r\n")
        var buffer = [UInt8](repeating: 0, count: 65536)
        #expect(recv(kept, &buffer, buffer.count, 0) > 0)
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(!process.isRunning)

        if process.isRunning { process.terminate(); return }
        #expect(process.terminationStatus == 0)
        let rows = try served.service.index.testing.count(.access)
        #expect(rows == 1)
    }
}

enum SocketHelper {
    /// Runs blocking socket code on a thread of its own, never on the cooperative pool the
    /// servers under test need.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await Blocking.offPool(body)
    }

    /// A connection whose reads give up after `timeout` seconds.
    static func connect(port: Int, timeout: Int, receiveBuffer: Int32? = nil) throws -> Int32 {
        let fd = try connect(port: port, receiveBuffer: receiveBuffer)
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// Reads until the peer closes (or a read times out); the bytes read.
    static func drain(_ fd: Int32) -> Int {
        var buffer = [UInt8](repeating: 0, count: 65536)
        var received = 0
        while case let n = recv(fd, &buffer, buffer.count, 0), n > 0 { received += n }
        return received
    }

    static func send(_ fd: Int32, _ text: String) {
        _ = text.withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    }

    /// A connection to 127.0.0.1:`port`; `receiveBuffer` (SO_RCVBUF, set before connecting)
    /// makes a slow reader whose unread bytes the server cannot hand to the kernel.
    static func connect(port: Int, receiveBuffer: Int32? = nil) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { close(fd); throw OriginError("connect failed") }
        return fd
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// The `url` of a line of the NDJSON manifest.
struct ManifestLine: Decodable { let url: String }
