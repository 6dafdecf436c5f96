import Foundation

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
