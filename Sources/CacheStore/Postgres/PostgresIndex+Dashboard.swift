import Foundation
import PostgresNIO

/// The dashboard's pages, as `CacheIndex+Dashboard` reads them in SQLite.
extension PostgresIndex: DashboardQueries {
    public func recentObjects(_ filter: ObjectFilter, limit: Int, offset: Int) throws(CacheError) -> IndexPage<ObjectRecord> {
        let (name, condition, values): (String, String, [any PostgresEncodable & Sendable]) = switch (filter.format, filter.animated) {
        case (nil, false): ("recent originals", "", [])
        case (let format?, false): ("recent originals of a format", " WHERE format = $1", [format])
        case (nil, true): ("recent animated originals", " WHERE frames > 1", [])
        case (let format?, true): ("recent animated originals of a format", " WHERE frames > 1 AND format = $1", [format])
        }
        return try read { session in
            IndexPage(rows: try session.query(Self.bound(Self.searchStatement(name), values + [limit, offset])).map(Self.object),
                      total: try session.scalar(Self.bound("SELECT COUNT(*) FROM objects" + condition, values), as: Int.self) ?? 0)
        }
    }

    public func thumbnails(digests: [String]) throws(CacheError) -> [ThumbnailRecord] {
        try read { session in
            try session.query("""
                SELECT \(unescaped: Self.thumbnailColumns) FROM thumbnails WHERE digest = ANY(\(digests)::text[]) ORDER BY key COLLATE "C"
                """).map(Self.thumbnail)
        }
    }

    public func sources(digest: String) throws(CacheError) -> [SourceRecord] {
        try read { session in
            try session.query("SELECT \(unescaped: Self.sourceColumns) FROM sources WHERE digest = \(digest) ORDER BY url COLLATE \"C\"")
                .map(Self.source)
        }
    }

    public func failureGroups(limit: Int) throws(CacheError) -> [FailureGroup] {
        try read { session in
            try session.query("""
                SELECT kind, n FROM (SELECT COALESCE(failure_kind, 'other') AS kind, COUNT(*) AS n FROM sources
                WHERE status = 'failed' GROUP BY 1) AS groups ORDER BY n DESC, kind COLLATE "C" LIMIT \(limit)
                """).map { row in
                let (kind, count) = try row.decode((String, Int).self)
                return FailureGroup(kind: FailureKind(named: kind), count: count)
            }
        }
    }

    public func failedSources(kind: FailureKind?, limit: Int, offset: Int) throws(CacheError) -> IndexPage<SourceRecord> {
        try read { session in
            guard let kind = kind?.rawValue else {
                return IndexPage(rows: try session.query("""
                    SELECT \(unescaped: Self.sourceColumns) FROM sources WHERE status = 'failed'
                    ORDER BY url COLLATE "C" LIMIT \(limit) OFFSET \(offset)
                    """).map(Self.source),
                    total: try session.scalar("SELECT COUNT(*) FROM sources WHERE status = 'failed'", as: Int.self) ?? 0)
            }
            return IndexPage(rows: try session.query(Self.bound(Self.searchStatement("failed of a kind"), [kind, limit, offset])).map(Self.source),
                             total: try session.scalar("""
                                SELECT COUNT(*) FROM sources WHERE status = 'failed' AND COALESCE(failure_kind, 'other') = \(kind)
                                """, as: Int.self) ?? 0)
        }
    }

    public func sizeMismatches(limit: Int, offset: Int) throws(CacheError) -> IndexPage<SourceRecord> {
        try read { session in
            IndexPage(rows: try session.query(Self.bound(Self.searchStatement("mismatches worst first"), [limit, offset])).map(Self.source),
                      total: try session.scalar("SELECT COUNT(*) FROM sources WHERE \(unescaped: CacheIndex.mismatch)", as: Int.self) ?? 0)
        }
    }

    /// The first `perURL` places of each URL in path order, and a count when there are more.
    public func seedLocations(urls: [String], perURL: Int) throws(CacheError) -> [String: SeedLocations] {
        try read { session in
            var first: [String: [SeedLocation]] = [:]
            for row in try session.query(Self.bound(Self.searchStatement("seed locations"), [Array(Set(urls)), perURL])) {
                let (url, path, line) = try row.decode((String, String, Int?).self)
                first[url, default: []].append(SeedLocation(path: path, line: line))
            }
            var counts: [String: Int] = [:]
            let full = first.filter { $0.value.count == perURL }.map(\.key)
            for row in try full.isEmpty ? [] : session.query(Self.bound(Self.statement("reference counts"), [full])) {
                let (url, count) = try row.decode((String, Int).self)
                counts[url] = count
            }
            return first.reduce(into: [:]) { result, entry in
                result[entry.key] = SeedLocations(first: entry.value, total: counts[entry.key] ?? entry.value.count)
            }
        }
    }
}
