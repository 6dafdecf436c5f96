import Crypto
import Foundation
import HTTPTypes
import Synchronization

/// Who may see the dashboard. It lists every source URL, error and seed path the cache knows,
/// so it is not for the public internet unless a token guards it.
public enum DashboardAccess: Sendable, Equatable {
    /// Not served (404).
    case off
    /// Served to anyone who reaches the port: the default on a loopback address only.
    case open
    /// Served to requests that carry the token (`Authorization: Bearer`, the cookie set by
    /// `/?token=`), 401 otherwise.
    case token(String)

    /// What `--dashboard` and `--dashboard-token` mean on `host`. `auto` (the default): on
    /// behind a token when one is set, else on for a loopback address and off elsewhere.
    public static func resolve(mode: String, token: String?, host: String) throws(DashboardError) -> (DashboardAccess, reason: String) {
        let token = token.flatMap { $0.isEmpty ? nil : $0 }
        if let token, token.utf8.count < 16 { throw DashboardError("the dashboard token must be at least 16 characters") }
        switch mode {
        case "off":
            return (.off, "dashboard off (--dashboard off)")
        case "on":
            if let token { return (.token(token), "dashboard on at / behind a token") }
            return (.open, "dashboard on at / without a token (--dashboard on): anyone who reaches \(host) sees every source URL and seed path")
        case "auto":
            if let token { return (.token(token), "dashboard on at / behind a token") }
            if isLoopback(host) { return (.open, "dashboard on at / (loopback only)") }
            return (.off, "dashboard off: \(host) is not a loopback address and no --dashboard-token is set "
                        + "(it shows every source URL and seed path); set a token or --dashboard on")
        default:
            throw DashboardError("--dashboard must be auto, on or off, not '\(mode)'")
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }

    public static let cookieName = "imgcache_dashboard"

    /// Whether `headers` carry the token (`Authorization: Bearer`, compared in constant time)
    /// or the cookie of a session that `sessions` opened for it.
    func admits(_ headers: HTTPFields, sessions: DashboardSessions) -> Bool {
        switch self {
        case .off: return false
        case .open: return true
        case .token(let token):
            if let authorization = headers[.authorization], authorization.hasPrefix("Bearer "),
               Self.sameSecret(String(authorization.dropFirst(7)), token) { return true }
            for cookies in headers[values: .cookie] {
                for cookie in cookies.split(separator: ";") {
                    let pair = cookie.trimmingCharacters(in: .whitespaces)
                    if pair.hasPrefix(Self.cookieName + "="), sessions.isOpen(String(pair.dropFirst(Self.cookieName.count + 1))) {
                        return true
                    }
                }
            }
            return false
        }
    }

    /// Equal by their hashes' bytes, in time that does not depend on where they differ.
    static func sameSecret(_ a: String, _ b: String) -> Bool {
        let x = Array(SHA256.hash(data: Data(a.utf8))), y = Array(SHA256.hash(data: Data(b.utf8)))
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

public struct DashboardError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// The dashboard's sessions: `/?token=` with the right token opens one, and the cookie carries
/// its random id, never the token (a cookie leaks more easily than a secret typed once).
/// Kept in memory for 12 hours; a restart asks for the token again.
public final class DashboardSessions: Sendable {
    private let sessions = Mutex<[String: ContinuousClock.Instant]>([:])
    static let lifetime: Duration = .seconds(12 * 3600)
    static let most = 10_000

    public init() {}

    /// A new session's id: 32 random bytes, hex.
    func open() -> String {
        var generator = SystemRandomNumberGenerator()
        let id = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        let now = ContinuousClock.now
        sessions.withLock { sessions in
            if sessions.count >= Self.most { sessions = sessions.filter { now - $0.value < Self.lifetime } }
            if sessions.count >= Self.most, let oldest = sessions.min(by: { $0.value < $1.value }) { sessions[oldest.key] = nil }
            sessions[id] = now
        }
        return id
    }

    func isOpen(_ id: String) -> Bool {
        guard id.utf8.count == 64 else { return false }
        let now = ContinuousClock.now
        return sessions.withLock { sessions in
            guard let opened = sessions[id] else { return false }
            if now - opened < Self.lifetime { return true }
            sessions[id] = nil
            return false
        }
    }
}

/// Who the dashboard answers beyond its token: on a loopback address, only requests whose
/// `Host` names it (a page whose DNS name rebinds to 127.0.0.1 sends its own name and gets
/// 421); and whether its cookie is `Secure` (served over TLS).
public struct DashboardGuard: Sendable {
    /// Host names (no port) the dashboard answers; nil: any.
    public var hosts: Set<String>?
    public var secureCookie = false

    public init(hosts: Set<String>? = nil, secureCookie: Bool = false) {
        self.hosts = hosts
        self.secureCookie = secureCookie
    }

    /// For a server bound to `host`: the loopback names and `host` itself, plus `names`,
    /// when `host` is a loopback address; any host otherwise.
    public static func forServer(host: String, names: [String] = [], tls: Bool) -> DashboardGuard {
        guard DashboardAccess.isLoopback(host) else { return DashboardGuard(secureCookie: tls) }
        let loopback: Set<String> = ["localhost", "127.0.0.1", "[::1]", host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host]
        return DashboardGuard(hosts: loopback.union(names.map { $0.lowercased() }), secureCookie: tls)
    }

    /// Whether a request with this `Host` (or :authority) may see the dashboard.
    func admits(authority: String?) -> Bool {
        guard let hosts else { return true }
        guard let authority = authority?.lowercased() else { return false }
        let name: Substring
        if authority.hasPrefix("["), let end = authority.firstIndex(of: "]") {
            name = authority[...end]
        } else {
            name = authority.split(separator: ":", maxSplits: 1).first ?? ""
        }
        return hosts.contains(String(name))
    }
}
