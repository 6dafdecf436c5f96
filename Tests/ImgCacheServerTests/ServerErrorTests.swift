@_spi(Testing) import CacheStore
import Foundation
import Hummingbird
import HummingbirdTesting
@testable import ImgCacheServer
import TestSupport
import Testing

@Suite("Cache URLs and error answers", .serialized)
struct ServerErrorTests {
    static let digest = String(repeating: "ab", count: 32)

    @Test("CacheURL: the two shapes parse and print back; anything else is nil")
    func cacheURL() throws {
        let thumbnail = try #require(CacheURL(path: "/t/\(Self.digest)/thumb.webp"))
        #expect(thumbnail == .thumbnail(digest: Self.digest[...], variant: "thumb", ext: "webp"))
        #expect(thumbnail.lookupKey == "t/\(Self.digest)/thumb.webp" && thumbnail.route == "thumbnail")
        let original = try #require(CacheURL(path: "/o/\(Self.digest).jpg"))
        #expect(original == .original(digest: Self.digest[...], ext: "jpg") && original.lookupKey == "o/\(Self.digest).jpg")
        #expect(CacheURL.of(ObjectRecord(digest: Self.digest, bytes: 1, format: .jpeg, width: 1, height: 1)) == "/o/\(Self.digest).jpg")
        for bad in ["/t/\(Self.digest)/thumb", "/t/\(Self.digest.uppercased())/thumb.jpg", "/t/abc/thumb.jpg", "/o/\(Self.digest)",
                    "/o/\(Self.digest).jpg?x=1", "/t/\(Self.digest)/%2e%2e.jpg", "/t/\(Self.digest)/.jpg", "/o/\(Self.digest).",
                    "/t/\(Self.digest)/a/thumb.jpg", "//o/\(Self.digest).jpg", "/x/\(Self.digest).jpg", "/o/../\(Self.digest).jpg"] {
            #expect(CacheURL(path: bad) == nil, "\(bad)")
        }
        // Metrics name every path under /t/ and /o/ by its route, a malformed one too.
        #expect(RouteName.of("/t/nonsense") == "thumbnail" && RouteName.of("/o/x") == "original" && RouteName.of("/v1/image") == "image")
    }

    @Test("every error a handler throws has one status: its own, 503 for a backend, 500 for the rest")
    func answering() {
        let index = ServerError.answering(CacheError(.database, "disk I/O error"))
        #expect(index.status == .serviceUnavailable && index.headers[.retryAfter] == "5")
        #expect(index.message == "the cache index cannot be read now; retry shortly" && index.cause != nil)
        #expect(ServerError.answering(CacheError(.io, "EIO")).message == "the cache's files cannot be read now; retry shortly")
        let missing = ServerError.answering(HTTPError(.notFound))
        #expect(missing.status == .notFound && missing.message == nil && missing.response.body.contentLength == 0)
        let other = ServerError.answering(CocoaError(.fileReadUnknown))
        #expect(other.status == .internalServerError && other.message == "internal error; it has been logged")
        #expect(ServerError.answering(ServerError.badRequest("no")).status == .badRequest)
    }

    @Test("a file route whose index read fails answers 503 with a JSON reason, and the 503 is counted under its route")
    func fileRoute5xxCounted() async throws {
        let served = try ServedCache()
        let url = try served.thumbnailURL("/a.jpg")
        let service = try CacheService(cacheDirectory: served.cache.path, variants: served.variants)
        // The index's tables vanish under the running server (another process replaced the file).
        try service.index.testing.dropTables()
        let metrics = ServerMetrics()
        let application = Application(router: buildRouter(service: service, metrics: metrics))
        try await application.test(.router) { client in
            try await client.execute(uri: url, method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "5")
                #expect(String(buffer: response.body) == #"{"error":"the cache index cannot be read now; retry shortly"}"#)
            }
        }
        let text = String(decoding: metrics.registry.emitToBuffer(), as: UTF8.self)
        #expect(text.contains(#"imgcache_http_requests_total{route="thumbnail",status="503"} 1"#), "\(text)")
    }
}
