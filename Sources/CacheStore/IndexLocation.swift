import Foundation

/// A PostgreSQL database that holds a shared index: `postgres://user[:password]@host[:port]/database`.
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

    /// Parses `postgres://` or `postgresql://` URLs; the password may also come from `PGPASSWORD`.
    public static func parse(_ text: String,
                             environment: [String: String] = ProcessInfo.processInfo.environment) throws(CacheError) -> PostgresLocation {
        guard text.hasPrefix("postgres://") || text.hasPrefix("postgresql://"),
              let url = URLComponents(string: text), let host = url.host, !host.isEmpty else {
            throw CacheError(.database, "index \(Self.redacted(text)): a shared index is named postgres://user@host:port/database")
        }
        let database = String(url.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw CacheError(.database, "index \(Self.redacted(text)): no database name (postgres://user@host:port/database)")
        }
        guard let user = url.user, !user.isEmpty else {
            throw CacheError(.database, "index \(Self.redacted(text)): no user name (postgres://user@host:port/database)")
        }
        return PostgresLocation(host: host, port: url.port ?? 5432, user: user.removingPercentEncoding ?? user,
                                password: url.password?.removingPercentEncoding ?? environment["PGPASSWORD"],
                                database: database)
    }

    /// `postgres://user@host:port/database`, never the password.
    public var description: String { "postgres://\(user)@\(host):\(port)/\(database)" }

    /// `text` with any password replaced by `***` (for error messages).
    static func redacted(_ text: String) -> String {
        guard var url = URLComponents(string: text), url.password != nil else { return text }
        url.password = "***"
        return url.string ?? text
    }
}

/// Where the index is: SQLite in the cache folder (the default: no server to run), or a
/// PostgreSQL database that several machines share.
public enum IndexLocation: Sendable, Hashable, CustomStringConvertible {
    case sqlite(cacheDirectory: String)
    case postgres(PostgresLocation)

    /// The `index` setting (`postgres://…`, or `sqlite`/empty for the cache folder's own), or
    /// the IMGCACHE_INDEX environment variable when the setting is absent.
    public static func parse(_ setting: String?, cacheDirectory: String,
                             environment: [String: String] = ProcessInfo.processInfo.environment) throws(CacheError) -> IndexLocation {
        let text = (setting ?? environment["IMGCACHE_INDEX"] ?? "").trimmingCharacters(in: .whitespaces)
        if text.isEmpty || text == "sqlite" { return .sqlite(cacheDirectory: cacheDirectory) }
        return .postgres(try PostgresLocation.parse(text, environment: environment))
    }

    public var description: String {
        switch self {
        case .sqlite(let folder): "SQLite at \(CacheIndex.path(inCache: folder))"
        case .postgres(let location): location.description
        }
    }

    public var isShared: Bool { if case .postgres = self { true } else { false } }

    /// Opens the index, creating (and migrating) it if needed.
    public func open() throws(CacheError) -> any IndexStorage {
        switch self {
        case .sqlite(let folder): try CacheIndex(cacheDirectory: folder)
        case .postgres(let location): try PostgresIndex(location)
        }
    }

    /// The index `location` names, or the SQLite index of `cacheDirectory` when it names none;
    /// it must exist already.
    public static func openExisting(_ location: IndexLocation?, cacheDirectory: String) throws(CacheError) -> any IndexStorage {
        try (location ?? .sqlite(cacheDirectory: cacheDirectory)).openExisting()
    }

    /// Opens an index that must exist already (commands that read or clean a cache never create
    /// one). A PostgreSQL index is migrated on open like any other.
    public func openExisting() throws(CacheError) -> any IndexStorage {
        switch self {
        case .sqlite(let folder): try CacheIndex.existing(inCache: folder)
        case .postgres(let location): try PostgresIndex(location)
        }
    }
}
