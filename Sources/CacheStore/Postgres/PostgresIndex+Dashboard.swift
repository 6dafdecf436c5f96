import Foundation
import PostgresNIO

/// The dashboard's pages, as `CacheIndex+Dashboard` reads them in SQLite.
extension PostgresIndex: DashboardQueries {
    public func recentObjects(limit: Int, offset: Int) throws(CacheError) -> IndexPage<ObjectRecord> {
        try read { session in
            IndexPage(rows: try session.query("""
                SELECT \(unescaped: Self.objectColumns) FROM objects ORDER BY created_at DESC, digest COLLATE "C"
                LIMIT \(limit) OFFSET \(offset)
                """).map(Self.object),
                total: try session.scalar("SELECT COUNT(*) FROM objects", as: Int.self) ?? 0)
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
        let kind = kind?.rawValue
        return try read { session in
            IndexPage(rows: try session.query("""
                SELECT \(unescaped: Self.sourceColumns) FROM sources
                WHERE status = 'failed' AND (\(kind)::text IS NULL OR COALESCE(failure_kind, 'other') = \(kind))
                ORDER BY url COLLATE "C" LIMIT \(limit) OFFSET \(offset)
                """).map(Self.source),
                total: try session.query("""
                    SELECT COUNT(*) FROM sources
                    WHERE status = 'failed' AND (\(kind)::text IS NULL OR COALESCE(failure_kind, 'other') = \(kind))
                    """).first?.decode(Int.self) ?? 0)
        }
    }

    public func sizeMismatches(limit: Int, offset: Int) throws(CacheError) -> IndexPage<SourceRecord> {
        try read { session in
            IndexPage(rows: try session.query("""
                SELECT \(unescaped: Self.sourceColumns) FROM sources WHERE \(unescaped: CacheIndex.mismatch)
                ORDER BY ABS(1.0 * declared_width * decoded_height / (declared_height * decoded_width) - 1) DESC, url COLLATE "C"
                LIMIT \(limit) OFFSET \(offset)
                """).map(Self.source),
                total: try session.scalar("SELECT COUNT(*) FROM sources WHERE \(unescaped: CacheIndex.mismatch)", as: Int.self) ?? 0)
        }
    }

    public func seedLocations(urls: [String]) throws(CacheError) -> [String: [SeedLocation]] {
        try read { session in
            var locations: [String: [SeedLocation]] = [:]
            for row in try session.query("""
                SELECT url, seed_path, line FROM seed_references WHERE url = ANY(\(urls)::text[]) ORDER BY seed_path COLLATE "C", line
                """) {
                let (url, path, line) = try row.decode((String, String, Int?).self)
                locations[url, default: []].append(SeedLocation(path: path, line: line))
            }
            return locations
        }
    }
}
