import Foundation
import Hummingbird
import HummingbirdTesting
@testable import ImgCacheServer
import Logging
import Synchronization
import TestSupport
import Testing

/// What the server must not leak: secrets into its log, images read as pages by a browser.
@Suite("imgcache serve: no secret in the log, nosniff on files")
struct TrustTests {
    /// Every log line's message and metadata, as text.
    final class CapturedLog: LogHandler, @unchecked Sendable {
        let lines = Mutex<[String]>([])
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String,
                 function: String, line: UInt) {
            let all = self.metadata.merging(metadata ?? [:]) { $1 }
            lines.withLock { $0.append("\(message) \(all)") }
        }
    }

    @Test("a token in the query is redacted from the request log line; other parameters stay")
    func tokenRedacted() async throws {
        #expect(RequestLog.redacted("/images?token=abc&page=2") == "/images?token=REDACTED&page=2")
        #expect(RequestLog.redacted("/?page=1&TOKEN=x") == "/?page=1&TOKEN=REDACTED")
        #expect(RequestLog.redacted("/t/abc/thumb.jpg") == "/t/abc/thumb.jpg")
        let served = try ServedCache()
        let capture = CapturedLog()
        let app = Application(router: buildRouter(service: served.service, metrics: ServerMetrics(), dashboard: .token("s3cret-token-0123456789")),
                              logger: Logger(label: "test") { _ in capture })
        try await app.test(.router) { client in
            _ = try await client.execute(uri: "/images?token=s3cret-token-0123456789&page=1", method: .get) { $0.status }
        }
        let lines = capture.lines.withLock { $0 }
        #expect(lines.contains { $0.contains("/images?token=REDACTED&page=1") }, "\(lines)")
        #expect(!lines.contains { $0.contains("s3cret-token") })
    }

    @Test("originals and thumbnails carry X-Content-Type-Options: nosniff, from the router and from the hot path")
    func nosniff() async throws {
        let served = try ServedCache()
        let app = try HotPathTests.application(served)
        let thumbnail = try served.thumbnailURL("/a.jpg")
        try await app.test(.live) { client in
            let port = try #require(client.port)
            // The first answer is the router's, the next ones the hot path's.
            let answers = try await HotPathTests.sequence(port: port, [HotPathTests.get(thumbnail, "\r\n"), HotPathTests.get(thumbnail, "\r\n"),
                                                                       HotPathTests.get(thumbnail, "\r\n")])
            for answer in answers {
                #expect(answer.lowercased().contains("x-content-type-options: nosniff"), "\(answer.prefix(300))")
            }
        }
    }
}
