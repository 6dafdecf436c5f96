import Foundation

/// A PostgreSQL database that holds a shared index, named in either of libpq's forms: a URI
/// (`postgres://user[:password]@host[:port]/database[?user=…&password=…&host=…&port=…]`, an
/// IPv6 host in brackets, `[::1]`) or keyword/value pairs (`host=… port=… dbname=… user=…
/// password=…`). No message ever shows the password.
public struct PostgresLocation: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String

    public init(host: String, port: Int = 5432, user: String, password: String? = nil, database: String) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
    }

    /// Parses either form; the password may also come from `PGPASSWORD`.
    public static func parse(_ text: String,
                             environment: [String: String] = ProcessInfo.processInfo.environment) throws(CacheError) -> PostgresLocation {
        let isURI = text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
        guard let fields = isURI ? uriFields(text) : keywordFields(text) else {
            throw CacheError(.database, "index \(redacted(text)): a shared index is named postgres://user@host:port/database "
                             + "or host=… port=… dbname=… user=…")
        }
        guard let host = fields["host"].map(unbracketed), !host.isEmpty else {
            throw CacheError(.database, "index \(redacted(text)): no host (postgres://user@host:port/database)")
        }
        guard let database = fields["dbname"], !database.isEmpty, !database.contains("/") else {
            throw CacheError(.database, "index \(redacted(text)): no database name (postgres://user@host:port/database)")
        }
        guard let user = fields["user"], !user.isEmpty else {
            throw CacheError(.database, "index \(redacted(text)): no user name (postgres://user@host:port/database)")
        }
        var port = 5432
        if let text = fields["port"] {
            guard let value = Int(text), (1...65535).contains(value) else {
                throw CacheError(.database, "index \(redacted(text)): the port must be a number from 1 to 65535")
            }
            port = value
        }
        return PostgresLocation(host: host, port: port, user: user, password: fields["password"] ?? environment["PGPASSWORD"],
                                database: database)
    }

    /// `postgres://user@host:port/database` (an IPv6 host in brackets), never the password.
    public var description: String {
        "postgres://\(user)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)"
    }

    /// The URI's parts, percent-decoded; query parameters override the authority's.
    private static func uriFields(_ text: String) -> [String: String]? {
        guard let url = URLComponents(string: text) else { return nil }
        var fields: [String: String] = [:]
        fields["host"] = url.host.flatMap { $0.isEmpty ? nil : ($0.removingPercentEncoding ?? $0) }
        fields["port"] = url.port.map(String.init)
        fields["user"] = url.user.map { $0.removingPercentEncoding ?? $0 }
        fields["password"] = url.password.map { $0.removingPercentEncoding ?? $0 }
        let path = String(url.path.drop { $0 == "/" })
        fields["dbname"] = path.isEmpty ? nil : path
        for item in url.queryItems ?? [] {
            guard let value = item.value, ["host", "port", "user", "password", "dbname"].contains(item.name) else { continue }
            fields[item.name] = value
        }
        return fields
    }

    /// `key=value` pairs separated by spaces; a value may be single-quoted with `\'` and `\\` inside.
    private static func keywordFields(_ text: String) -> [String: String]? {
        var fields: [String: String] = [:]
        var rest = Substring(text)
        while true {
            rest = rest.drop { $0 == " " || $0 == "\t" }
            if rest.isEmpty { break }
            guard let equals = rest.firstIndex(of: "=") else { return nil }
            let key = rest[..<equals].trimmingCharacters(in: .whitespaces)
            rest = rest[rest.index(after: equals)...].drop { $0 == " " }
            var value = ""
            if rest.first == "'" {
                rest = rest.dropFirst()
                var closed = false
                while let character = rest.first {
                    rest = rest.dropFirst()
                    if character == "\\", let next = rest.first { value.append(next); rest = rest.dropFirst(); continue }
                    if character == "'" { closed = true; break }
                    value.append(character)
                }
                guard closed else { return nil }
            } else {
                let end = rest.firstIndex { $0 == " " || $0 == "\t" } ?? rest.endIndex
                value = String(rest[..<end])
                rest = rest[end...]
            }
            guard !key.isEmpty else { return nil }
            fields[key] = value
        }
        return fields.isEmpty ? nil : fields
    }

    private static func unbracketed(_ host: String) -> String {
        host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }

    /// `text` with any password (in the authority, a `password=` parameter or pair) replaced by `***`.
    static func redacted(_ text: String) -> String {
        var text = text
        if let url = URLComponents(string: text), url.password != nil, let at = text.firstIndex(of: "@"),
           let scheme = text.range(of: "://"), let colon = text[scheme.upperBound..<at].firstIndex(of: ":") {
            text.replaceSubrange(text.index(after: colon)..<at, with: "***")
        }
        // password=… in a query (up to & or the end) or a keyword pair (up to a space, or a quoted value).
        let pattern = #"(password=)('(?:[^'\\]|\\.)*'?|[^&\s]*)"#
        guard let expression = try? NSRegularExpression(pattern: pattern, options: [.caseInsensitive]) else { return text }
        return expression.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text), withTemplate: "$1***")
    }
}
