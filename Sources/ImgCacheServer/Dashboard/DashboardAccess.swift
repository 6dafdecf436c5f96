import Crypto
import Foundation
import HTTPTypes

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

    static let cookieName = "imgcache_dashboard"

    /// Whether `headers` carry the token (compared in constant time).
    func admits(_ headers: HTTPFields) -> Bool {
        switch self {
        case .off: return false
        case .open: return true
        case .token(let token):
            var offered: [String] = []
            if let authorization = headers[.authorization], authorization.hasPrefix("Bearer ") {
                offered.append(String(authorization.dropFirst(7)))
            }
            for cookies in headers[values: .cookie] {
                for cookie in cookies.split(separator: ";") {
                    let pair = cookie.trimmingCharacters(in: .whitespaces)
                    if pair.hasPrefix(Self.cookieName + "=") { offered.append(String(pair.dropFirst(Self.cookieName.count + 1))) }
                }
            }
            return offered.contains { Self.sameSecret($0, token) }
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
