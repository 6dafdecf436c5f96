import CacheStore
import Foundation
import HTTPTypes
import Hummingbird
import Mustache

/// The dashboard's routes: `/`, `/images` (`?format=`, `?animated=1`), `/images/<sha256>`,
/// `/failures`, `/mismatches`, `/search` (`?q=`, `?seed=`, `?failed=1`, `?mismatch=1`).
/// HTML rendered on the server, no script; `access` decides who sees it.
struct Dashboard: Sendable {
    let access: DashboardAccess
    let hostGuard: DashboardGuard
    let sessions = DashboardSessions()
    let pages: DashboardPages
    /// The templates, or why they did not parse: a bug the tests catch, and a 500 (counted and
    /// logged with the parser's message) on every page rather than a crash.
    let templates: Result<MustacheLibrary, any Error>

    init(service: CacheService, access: DashboardAccess, guard hostGuard: DashboardGuard = .init()) {
        self.access = access
        self.hostGuard = hostGuard
        pages = DashboardPages(service: service)
        templates = Result { try DashboardTemplates.library() }
    }

    func addRoutes(to router: Router<ServerRequestContext>) {
        guard access != .off else { return }
        router.get("/") { request, _ in
            try await render(request, "overview") { try pages.overview() }
        }
        router.get("/images") { request, _ in
            let filter = try Self.objectFilter(request)
            return try await render(request, "images") { try pages.images(filter, page: try Self.page(request)) }
        }
        router.get("/search") { request, _ in
            let (search, note) = Self.search(request)
            let after = request.uri.queryParameters.get("after").map { String($0) }
            return try await render(request, "search") { try pages.search(search, after: after, note: note) }
        }
        router.get("/images/:digest") { request, context in
            let digest = try context.parameters.require("digest")
            return try await render(request, "image") { try pages.image(digest: digest) }
        }
        router.get("/failures") { request, _ in
            let reason = request.uri.queryParameters.get("reason").flatMap { $0.isEmpty ? nil : $0 }
            return try await render(request, "failures") { try pages.failures(reason: reason, page: try Self.page(request)) }
        }
        router.get("/mismatches") { request, _ in
            try await render(request, "mismatches") { try pages.mismatches(page: try Self.page(request)) }
        }
    }

    /// The page's HTML, or 401 without the token, 404 when `read` finds nothing.
    private func render(_ request: Request, _ template: String,
                        _ read: @escaping @Sendable () throws -> [String: Any]?) async throws -> Response {
        guard hostGuard.admits(authority: request.headers[.hostField] ?? request.head.authority) else {
            return html(.init(code: 421, reasonPhrase: "Misdirected Request"),
                        Self.message("This dashboard answers only to the names of the address it listens on."))
        }
        if let token = request.uri.queryParameters.get("token"), case .token = access {
            return tokenExchange(request, offered: String(token))
        }
        guard access.admits(request.headers, sessions: sessions) else {
            return html(.unauthorized, Self.message("This dashboard needs its token: open it once as /?token=… "
                                                    + "(it is then kept in a cookie), or send Authorization: Bearer …"))
        }
        // [String: Any] is not Sendable: the page is rendered on the index thread that read it.
        let library = try templates.get()
        let page = try await IndexReads.run { () throws -> String? in
            try read().flatMap { library.render($0, withTemplate: template) }
        }
        guard let page else { return html(.notFound, Self.message("No such image in the cache.")) }
        return html(.ok, page)
    }

    /// `?token=`: a right token opens a session, whose random id (not the token) becomes an
    /// HttpOnly cookie (`Secure` under TLS), and the address loses the token (303).
    private func tokenExchange(_ request: Request, offered: String) -> Response {
        guard case .token(let token) = access, DashboardAccess.sameSecret(offered, token) else {
            return html(.unauthorized, Self.message("That token is not this dashboard's."))
        }
        return Response(status: .seeOther, headers: [
            .location: request.uri.path,
            .setCookie: "\(DashboardAccess.cookieName)=\(sessions.open()); Path=/; HttpOnly; SameSite=Strict"
                + (hostGuard.secureCookie ? "; Secure" : ""),
            .cacheControl: "no-store",
        ])
    }

    private func html(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [
            .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
            // No script, no frames, no form posts: nothing from a hostile URL can run or embed the page.
            .contentSecurityPolicy: "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            .xContentTypeOptions: "nosniff",
        ], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    private static func message(_ text: String) -> String {
        "<!doctype html><meta charset=\"utf-8\"><title>imgcache</title><p>\(text.htmlEscaped)</p>\n"
    }

    /// `?format=` (one of the stored formats' names) and `?animated=1`; 400 for a format there is no such thing as.
    static func objectFilter(_ request: Request) throws -> ObjectFilter {
        let parameters = request.uri.queryParameters
        let format = parameters.get("format").flatMap { $0.isEmpty ? nil : String($0) }
        if let format, StoredFormat(rawValue: format) == nil {
            throw ServerError.badRequest("format must be one of " + StoredFormat.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return ObjectFilter(format: format, animated: parameters.get("animated") == "1")
    }

    /// `?q=` (a part of the URL), `?seed=` (a seed file or folder), `?failed=1`, `?mismatch=1`;
    /// and why nothing was searched, for a text too short to look up.
    static func search(_ request: Request) -> (SourceSearch, note: String?) {
        let parameters = request.uri.queryParameters
        func text(_ name: String) -> String? {
            parameters.get(name).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        let search = SourceSearch(text: text("q"), seedPath: text("seed"),
                                  failed: parameters.get("failed") == "1", mismatched: parameters.get("mismatch") == "1")
        if let q = search.text, q.count < SourceSearch.minimumText {
            return (search, "Type at least \(SourceSearch.minimumText) characters of the URL: a shorter text is in nearly every URL.")
        }
        return (search, nil)
    }

    /// `?page=` (1 when absent), 400 when it is not a page number.
    static func page(_ request: Request) throws -> Int {
        guard let text = request.uri.queryParameters.get("page") else { return 1 }
        guard let page = Int(text), (1...1_000_000).contains(page) else {
            throw ServerError.badRequest("page must be a whole number from 1")
        }
        return page
    }
}

extension HTTPField.Name {
    static let contentSecurityPolicy = Self("Content-Security-Policy")!
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
    /// A `Host` field as such (HTTP/1.1 requests carry it as the authority; Hummingbird's router tests as a field).
    static let hostField = Self("Host")!
}

extension String {
    /// `< > & " '` as entities.
    var htmlEscaped: String {
        var escaped = ""
        for character in self {
            switch character {
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "&": escaped += "&amp;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
