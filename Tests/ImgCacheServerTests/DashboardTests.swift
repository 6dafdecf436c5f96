@_spi(Testing) import CacheStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ImgCacheKit
import ImgCacheServer
import TestSupport
import Testing

/// A cache made by a real sync for the dashboard: a.jpg declared square (it is 4:3, a size
/// mismatch), b.png declared at its own size, and a URL the origin answers 404.
final class DashboardCache: @unchecked Sendable {
    let served: ServedCache
    init() throws {
        served = try ServedCache(seeds: [("/a.jpg", "300x300"), ("/b.png", "162x150"), ("/missing.jpg", nil)])
    }

    func application(_ access: DashboardAccess = .open, guard hostGuard: DashboardGuard = .init()) -> some ApplicationProtocol {
        Application(router: buildRouter(service: served.service, metrics: ServerMetrics(), dashboard: access, dashboardGuard: hostGuard))
    }

    static func get(_ client: some TestClientProtocol, _ uri: String, headers: HTTPFields = [:]) async throws -> (HTTPResponse.Status, String) {
        try await client.execute(uri: uri, method: .get, headers: headers) { ($0.status, String(buffer: $0.body)) }
    }
}

@Suite("imgcache serve: the dashboard", .serialized)
struct DashboardTests {
    @Test("the overview shows the totals, recent images as thumbnails, failures by reason with seed:line, and size mismatches")
    func overview() async throws {
        let cache = try DashboardCache()
        let a = try cache.served.thumbnailURL("/a.jpg")
        try await cache.application().test(.router) { client in
            let (status, page) = try await DashboardCache.get(client, "/")
            #expect(status == .ok)
            #expect(page.contains("<b>2</b>"))  // images
            #expect(page.contains("Failed<b>1</b>"))
            #expect(page.contains("src=\"\(a)\""))  // the thumb variant's JPEG as the tile
            #expect(page.contains("background-color: #"))  // its placeholder colour while it loads
            #expect(page.contains("<h3>http status"))
            #expect(page.contains(cache.served.origin.url("/missing.jpg")))
            #expect(page.contains("article.md:"))  // the seed and line naming it
            #expect(page.contains("300×300</td><td>300×225"))  // declared against decoded
            #expect(!page.contains("162×150</td><td>162×150"))  // the right size is no mismatch
        }
    }

    @Test("an image's page: every variant in every format, the placeholder, the profile and the seeds that name it")
    func imagePage() async throws {
        let cache = try DashboardCache()
        let digest = try #require(try cache.served.service.index.source(cache.served.origin.url("/b.png"))?.digest)
        let object = try #require(try cache.served.service.index.object(digest))
        try await cache.application().test(.router) { client in
            let (status, page) = try await DashboardCache.get(client, "/images/\(digest)")
            #expect(status == .ok)
            for file in ["thumb.webp", "thumb.png", "card.avif", "card.webp", "card.png"] {
                #expect(page.contains("/t/\(digest)/\(file)"), "\(file)")
            }
            #expect(page.contains(try #require(object.dominantColor)))
            #expect(page.contains(try #require(object.blurHash)))
            #expect(page.contains("<th>colour profile</th><td>PNG gAMA (gamma 1.00000) (converted to sRGB)</td>"))  // b.png has gAMA 1.0
            #expect(page.contains(cache.served.origin.url("/b.png")) && page.contains("article.md:"))
            // Not a digest, or not in the cache: 404.
            #expect(try await DashboardCache.get(client, "/images/\(String(repeating: "0", count: 64))").0 == .notFound)
            #expect(try await DashboardCache.get(client, "/images/..%2F..%2Fetc").0 == .notFound)
        }
    }

    @Test("everything from origins and seeds is escaped: a URL and an error with <script> and quotes, a javascript: URL")
    func escaping() async throws {
        let cache = try DashboardCache()
        let index = cache.served.service.index
        let hostile = "https://evil.example/\"><script>alert(1)</script>.jpg"
        try index.recordFailures([
            SourceFailure(url: hostile, reason: "http status: <script>alert(\"x\")</script> & 'quoted'", kind: .httpStatus, declaredWidth: nil, declaredHeight: nil),
            SourceFailure(url: "javascript:alert(document.cookie)", reason: "invalid url: not http", kind: .invalidURL, declaredWidth: nil, declaredHeight: nil),
        ])
        try index.replaceSeedReferences([SeedReference(seedPath: "posts/<img src=x onerror=alert(2)>.md", url: hostile, line: 4)])
        try await cache.application().test(.router) { client in
            for uri in ["/", "/failures", "/failures?reason=http%20status", "/failures?reason=%3Cscript%3E"] {
                let (status, page) = try await DashboardCache.get(client, uri)
                #expect(status == .ok, "\(uri)")
                #expect(!page.contains("<script"), "\(uri)")
                #expect(!page.contains("<img src=x"), "\(uri)")
                #expect(!page.contains("href=\"javascript:"), "\(uri)")
            }
            let (_, page) = try await DashboardCache.get(client, "/failures?reason=http%20status")
            #expect(page.contains("https://evil.example/&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;.jpg"))
            #expect(page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;"))
            #expect(page.contains("posts/&lt;img src=x onerror=alert(2)&gt;.md:4"))
            let (_, all) = try await DashboardCache.get(client, "/failures")
            #expect(all.contains("javascript:alert(document.cookie)"))  // shown as text, not a link
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.headers[.init("Content-Security-Policy")!]?.contains("default-src 'none'") == true)
            }
        }
    }

    @Test("pages: 48 images a page with links to the next, and a bad page number is 400")
    func paging() async throws {
        let cache = try DashboardCache()
        try await cache.application().test(.router) { client in
            let (status, page) = try await DashboardCache.get(client, "/images")
            #expect(status == .ok && page.contains("page 1 of 1 · 2 in all"))
            #expect(try await DashboardCache.get(client, "/images?page=2").1.contains("No image on this page."))
            #expect(try await DashboardCache.get(client, "/images?page=0").0 == .badRequest)
            #expect(try await DashboardCache.get(client, "/mismatches").1.contains("page 1 of 1 · 1 in all"))
        }
    }

    @Test("search: a part of a URL, a seed, failed and mismatched, alone and together; a short text is refused with a reason")
    func search() async throws {
        let cache = try DashboardCache()
        let a = cache.served.origin.url("/a.jpg"), b = cache.served.origin.url("/b.png"), missing = cache.served.origin.url("/missing.jpg")
        try await cache.application().test(.router) { client in
            let (status, empty) = try await DashboardCache.get(client, "/search")
            #expect(status == .ok && empty.contains("name=\"q\"") && !empty.contains("<table>"))
            let byText = try await DashboardCache.get(client, "/search?q=%2FA.JPG").1
            #expect(byText.contains(">\(a)</a>") && !byText.contains(">\(b)</a>") && byText.contains("1 URL matches"))
            let failed = try await DashboardCache.get(client, "/search?failed=1").1
            #expect(failed.contains(">\(missing)</a>") && !failed.contains(">\(a)</a>") && failed.contains("1 URL matches"))
            let mismatched = try await DashboardCache.get(client, "/search?mismatch=1").1
            #expect(mismatched.contains(">\(a)</a>") && !mismatched.contains(">\(b)</a>"))
            let bySeed = try await DashboardCache.get(client, "/search?seed=article.md").1
            #expect(bySeed.contains(">\(a)</a>") && bySeed.contains(">\(b)</a>") && bySeed.contains("3 URLs match"))
            #expect(try await DashboardCache.get(client, "/search?seed=article.md&failed=1&q=missing").1.contains("1 URL matches"))
            #expect(try await DashboardCache.get(client, "/search?seed=elsewhere").1.contains("0 URLs match"))
            // The absolute path a sync stored works as well as the one from the seeds folder.
            let absolute = cache.served.directory.url.appendingPathComponent("seeds/article.md").standardizedFileURL.path
            #expect(try await DashboardCache.get(client, "/search?seed=" + escape(absolute)).1.contains("3 URLs match"))
            let short = try await DashboardCache.get(client, "/search?q=ab").1
            #expect(short.contains("Type at least 3 characters") && !short.contains("<table>"))
            // What was typed comes back escaped in the form.
            let hostile = try await DashboardCache.get(client, "/search?q=%3Cscript%3E%22").1
            #expect(hostile.contains("value=\"&lt;script&gt;&quot;\"") && !hostile.contains("<script>"))
        }
    }

    @Test("the images list filters by format and animation; a format there is no such thing as is 400")
    func imageFilters() async throws {
        let cache = try DashboardCache()
        try await cache.application().test(.router) { client in
            let (status, png) = try await DashboardCache.get(client, "/images?format=png")
            #expect(status == .ok && png.contains("page 1 of 1 · 1 in all") && png.contains("Images: png"))
            #expect(try await DashboardCache.get(client, "/images?format=jpeg").1.contains("page 1 of 1 · 1 in all"))
            #expect(try await DashboardCache.get(client, "/images?format=gif").1.contains("page 1 of 1 · 0 in all"))
            #expect(try await DashboardCache.get(client, "/images?animated=1").1.contains("page 1 of 1 · 0 in all"))
            #expect(try await DashboardCache.get(client, "/images?format=exe").0 == .badRequest)
        }
    }

    @Test("behind a token: 401 without it; ?token= sets an HttpOnly cookie and drops it from the address; Bearer works")
    func token() async throws {
        let cache = try DashboardCache()
        let token = "s3cret-token-0123456789"
        try await cache.application(.token(token)).test(.router) { client in
            #expect(try await DashboardCache.get(client, "/").0 == .unauthorized)
            #expect(try await DashboardCache.get(client, "/images?token=wrong-token-000000000").0 == .unauthorized)
            let cookie = try await client.execute(uri: "/images?token=\(token)", method: .get) { response in
                #expect(response.status == .seeOther && response.headers[.location] == "/images")
                let cookie = try #require(response.headers[.setCookie])
                #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && !cookie.contains("Secure"))
                return String(cookie.prefix { $0 != ";" })
            }
            // The cookie carries a random session id, never the token itself.
            #expect(!cookie.contains(token) && cookie.count == DashboardAccess.cookieName.count + 1 + 64)
            #expect(try await DashboardCache.get(client, "/images", headers: [.cookie: cookie]).0 == .ok)
            #expect(try await DashboardCache.get(client, "/images", headers: [.cookie: "\(DashboardAccess.cookieName)=\(token)"]).0 == .unauthorized)
            // The session id with its last digit changed (to another digit: "0" when it ended in one would be no change).
            let forged = String(cookie.dropLast()) + (cookie.hasSuffix("0") ? "1" : "0")
            #expect(try await DashboardCache.get(client, "/images", headers: [.cookie: forged]).0 == .unauthorized)
            #expect(try await DashboardCache.get(client, "/", headers: [.authorization: "Bearer \(token)"]).0 == .ok)
            #expect(try await DashboardCache.get(client, "/", headers: [.authorization: "Bearer \(token)x"]).0 == .unauthorized)
            // The immutable files need no token.
            #expect(try await DashboardCache.get(client, try cache.served.thumbnailURL("/a.jpg")).0 == .ok)
        }
    }

    @Test("on loopback the dashboard answers only to its own names (421 to a rebound DNS name); under TLS the cookie is Secure")
    func hostAndSecureCookie() async throws {
        let cache = try DashboardCache()
        let loopback = DashboardGuard.forServer(host: "127.0.0.1", names: ["imgcache.internal"], tls: true)
        try await cache.application(.open, guard: loopback).test(.router) { client in
            for (host, status) in [("localhost", HTTPResponse.Status.ok), ("127.0.0.1:8080", .ok), ("[::1]:8080", .ok),
                                   ("imgcache.internal", .ok), ("attacker.example", .init(code: 421)), ("attacker.example:8080", .init(code: 421))] {
                let answer = try await client.execute(uri: "/", method: .get, headers: [HTTPField.Name("Host")!: host]) { $0.status }
                #expect(answer == status, "Host: \(host)")
            }
            // The immutable files answer any name (a CDN in front of the server sends its own).
            #expect(try await client.execute(uri: try cache.served.thumbnailURL("/a.jpg"), method: .get, headers: [HTTPField.Name("Host")!: "cdn.example"]) { $0.status } == .ok)
        }
        let token = "s3cret-token-0123456789"
        try await cache.application(.token(token), guard: DashboardGuard.forServer(host: "0.0.0.0", tls: true)).test(.router) { client in
            try await client.execute(uri: "/?token=\(token)", method: .get, headers: [HTTPField.Name("Host")!: "images.example"]) { response in
                #expect(response.status == .seeOther)
                #expect(response.headers[.setCookie]?.hasSuffix("; Secure") == true)
            }
        }
    }

    @Test("off by default on a public address without a token, and then not served at all")
    func access() async throws {
        #expect(try DashboardAccess.resolve(mode: "auto", token: nil, host: "127.0.0.1").0 == .open)
        #expect(try DashboardAccess.resolve(mode: "auto", token: nil, host: "::1").0 == .open)
        let (publicAccess, reason) = try DashboardAccess.resolve(mode: "auto", token: nil, host: "0.0.0.0")
        #expect(publicAccess == .off && reason.contains("not a loopback address"))
        #expect(try DashboardAccess.resolve(mode: "auto", token: "0123456789abcdef", host: "0.0.0.0").0 == .token("0123456789abcdef"))
        #expect(try DashboardAccess.resolve(mode: "on", token: nil, host: "0.0.0.0").0 == .open)
        #expect(try DashboardAccess.resolve(mode: "off", token: nil, host: "127.0.0.1").0 == .off)
        #expect(throws: DashboardError.self) { try DashboardAccess.resolve(mode: "auto", token: "short", host: "0.0.0.0") }
        #expect(throws: DashboardError.self) { try DashboardAccess.resolve(mode: "maybe", token: nil, host: "0.0.0.0") }
        let cache = try DashboardCache()
        try await cache.application(.off).test(.router) { client in
            let overview = try await DashboardCache.get(client, "/")
            let failures = try await DashboardCache.get(client, "/failures")
            #expect(overview.0 == .notFound)
            #expect(failures.0 == .notFound)
        }
    }

    @Test("imgcache serve refuses a dashboard token under 16 characters and says why")
    func serveSaysWhy() throws {
        let directory = try TemporaryDirectory()
        let short = try Executable.run(["serve", "--cache", directory.path, "--host", "0.0.0.0", "--port", String(TestServers.freePort()),
                                        "--dashboard-token", "short"])
        #expect(short.status == 1 && short.stderr.contains("at least 16 characters"))
    }
}
