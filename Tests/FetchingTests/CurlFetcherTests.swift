import Fetching
import Foundation
import TestSupport
import Testing

/// The real libcurl fetcher against a real origin on 127.0.0.1.
@Suite("CurlFetcher against a local origin")
struct CurlFetcherTests {
    static let image = Data([0xFF, 0xD8, 0xFF, 0xE0]) + Data(repeating: 7, count: 5000)

    static func configuration(allowLoopback: Bool = true) -> FetchConfiguration {
        var c = FetchConfiguration()
        if allowLoopback { c.addressPolicy = AddressPolicy(allowedAddresses: ["127.0.0.1"]) }
        c.retryBaseDelay = 0.05
        c.lowSpeedBytesPerSecond = 1000
        c.lowSpeedTime = 1
        c.maxBodyBytes = 1_000_000
        c.connectTimeout = 2
        return c
    }

    static func origin() throws -> TestOrigin {
        try TestOrigin { request, hit in
            switch request.path {
            case "/image.jpg", _ where request.path.hasPrefix("/image.jpg?"):
                if request.headers["if-none-match"] == "\"v1\"" { return .respond(status: 304, headers: ["ETag": "\"v1\""], body: Data()) }
                return .respond(status: 200, headers: ["ETag": "\"v1\"", "Cache-Control": "max-age=3600",
                                                       "Last-Modified": "Wed, 01 Jan 2025 00:00:00 GMT"], body: image)
            case "/missing", _ where request.path.hasPrefix("/missing?"): return .respond(status: 404, headers: [:], body: Data("not found".utf8))
            case "/flaky": return hit == 1 ? .respond(status: 500, headers: [:], body: Data()) : .respond(status: 200, headers: [:], body: image)
            case "/busy": return hit == 1 ? .respond(status: 429, headers: ["Retry-After": "1"], body: Data()) : .respond(status: 200, headers: [:], body: image)
            case "/always-500": return .respond(status: 503, headers: [:], body: Data())
            case "/redirect": return .respond(status: 302, headers: ["Location": "/image.jpg"], body: Data())
            case "/loop": return .respond(status: 302, headers: ["Location": "/loop"], body: Data())
            case "/to-metadata": return .respond(status: 302, headers: ["Location": "http://169.254.169.254/latest/meta-data/"], body: Data())
            case "/to-file": return .respond(status: 302, headers: ["Location": "file:///etc/passwd"], body: Data())
            case "/drip": return .drip(headers: [:], body: image, bytesPerStep: 1, interval: 1)
            case "/endless": return .endless
            case "/liar": return .lie(declaredLength: 100_000, body: image)
            default: return .respond(status: 404, headers: [:], body: Data())
            }
        }
    }

    static func fetch(_ fetcher: CurlFetcher, _ urls: [String]) -> [FetchOutcome] {
        var outcomes = [FetchOutcome?](repeating: nil, count: urls.count)
        fetcher.fetchAll(urls.map { FetchRequest(url: $0) }) { index, outcome in outcomes[index] = outcome }
        return outcomes.map { $0! }
    }

    static func failure(_ outcome: FetchOutcome) -> FetchError? {
        if case .failed(let error) = outcome { return error }
        return nil
    }

    @Test("200 with validators and freshness; a conditional request gets 304 and no body")
    func conditional() throws {
        let origin = try Self.origin()
        let fetcher = CurlFetcher(configuration: Self.configuration())
        guard case .fetched(let response) = Self.fetch(fetcher, [origin.url("/image.jpg")])[0] else {
            Issue.record("not fetched"); return
        }
        #expect(response.body == Self.image)
        #expect(response.etag == "\"v1\"")
        #expect(response.lastModified == "Wed, 01 Jan 2025 00:00:00 GMT")
        #expect(response.freshnessLifetime() == 3600)
        var second: FetchOutcome?
        fetcher.fetchAll([FetchRequest(url: origin.url("/image.jpg"), etag: "\"v1\"")]) { _, outcome in second = outcome }
        guard case .notModified(let notModified) = second else { Issue.record("expected 304"); return }
        #expect(notModified.body.isEmpty)
        #expect(origin.requests.last?.headers["if-none-match"] == "\"v1\"")
        #expect(origin.requests.last?.headers["user-agent"]?.hasPrefix("imgcache/") == true)
    }

    @Test("404 is final: one request; 500 then 200 and 429 with Retry-After are retried")
    func retries() throws {
        let origin = try Self.origin()
        let started = Date()
        let outcomes = Self.fetch(CurlFetcher(configuration: Self.configuration()),
                                  [origin.url("/missing"), origin.url("/flaky"), origin.url("/busy"), origin.url("/always-500")])
        #expect(Self.failure(outcomes[0])?.status == 404)
        #expect(origin.hitCount("/missing") == 1)
        guard case .fetched(let flaky) = outcomes[1], case .fetched(let busy) = outcomes[2] else {
            Issue.record("retries did not succeed: \(outcomes)"); return
        }
        #expect(flaky.attempts == 2 && busy.attempts == 2)
        #expect(Date().timeIntervalSince(started) >= 1)  // Retry-After: 1 was honoured
        #expect(Self.failure(outcomes[3])?.attempts == 3)
        #expect(origin.hitCount("/always-500") == 3)
    }

    @Test("redirects: followed, a loop stops at the limit, internal targets and other schemes are refused")
    func redirects() throws {
        let origin = try Self.origin()
        let outcomes = Self.fetch(CurlFetcher(configuration: Self.configuration()),
                                  [origin.url("/redirect"), origin.url("/loop"), origin.url("/to-metadata"), origin.url("/to-file")])
        guard case .fetched(let followed) = outcomes[0] else { Issue.record("redirect not followed"); return }
        #expect(followed.effectiveURL == origin.url("/image.jpg"))
        #expect(Self.failure(outcomes[1])?.kind == .tooManyRedirects)
        #expect(origin.hitCount("/loop") == 6)  // the first request and 5 redirects
        let metadata = try #require(Self.failure(outcomes[2]))
        #expect(metadata.kind == .blockedAddress)
        #expect(metadata.message.contains("169.254.169.254"))
        #expect(Self.failure(outcomes[3])?.kind == .invalidURL)
    }

    @Test("loopback is refused unless allowed, before any request reaches it; bad schemes never start")
    func refusals() throws {
        let origin = try Self.origin()
        let outcomes = Self.fetch(CurlFetcher(configuration: Self.configuration(allowLoopback: false)),
                                  [origin.url("/image.jpg"), "file:///etc/passwd", "gopher://127.0.0.1/", "http://[::1]:\(origin.port)/x"])
        #expect(Self.failure(outcomes[0])?.kind == .blockedAddress)
        #expect(Self.failure(outcomes[1])?.kind == .invalidURL)
        #expect(Self.failure(outcomes[2])?.kind == .invalidURL)
        #expect(Self.failure(outcomes[3])?.kind == .blockedAddress)
        #expect(origin.totalRequests == 0)
    }

    @Test("a slow drip times out; an endless body stops at the cap; a lying Content-Length fails")
    func hostileBodies() throws {
        let origin = try Self.origin()
        var configuration = Self.configuration()
        configuration.maxAttempts = 1
        let outcomes = Self.fetch(CurlFetcher(configuration: configuration),
                                  [origin.url("/drip"), origin.url("/endless"), origin.url("/liar")])
        #expect(Self.failure(outcomes[0])?.kind == .timeout)
        #expect(Self.failure(outcomes[1])?.kind == .tooLarge)
        #expect(Self.failure(outcomes[2])?.kind == .connection)
    }

    @Test("a Content-Length over the cap aborts before the body")
    func hugeContentLength() throws {
        let origin = try TestOrigin { _, _ in .lie(declaredLength: 10_000_000_000, body: Data(repeating: 1, count: 10)) }
        let outcome = Self.fetch(CurlFetcher(configuration: Self.configuration()), [origin.url("/huge")])[0]
        let error = try #require(Self.failure(outcome))
        #expect(error.kind == .tooLarge)
        #expect(error.message.contains("Content-Length"))
    }

    @Test("many URLs at once all complete, each reported once")
    func many() throws {
        let origin = try Self.origin()
        let urls = (0..<40).map { origin.url($0 % 2 == 0 ? "/image.jpg?\($0)" : "/missing?\($0)") }
        let outcomes = Self.fetch(CurlFetcher(configuration: Self.configuration()), urls)
        for (index, outcome) in outcomes.enumerated() {
            if index % 2 == 0 {
                if case .fetched = outcome {} else { Issue.record("\(urls[index]) not fetched") }
            } else {
                #expect(Self.failure(outcome)?.status == 404)
            }
        }
    }
}
