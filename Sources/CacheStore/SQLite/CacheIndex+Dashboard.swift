import Foundation
import GRDB

/// The dashboard's pages, in SQLite.
extension CacheIndex: DashboardQueries {
    public func recentObjects(limit: Int, offset: Int) throws(CacheError) -> IndexPage<ObjectRecord> {
        try read { db in
            IndexPage(rows: try ObjectRecord.order(Column("created_at").desc, Column("digest")).limit(limit, offset: offset).fetchAll(db),
                      total: try ObjectRecord.fetchCount(db))
        }
    }

    public func thumbnails(digests: [String]) throws(CacheError) -> [ThumbnailRecord] {
        try read { db in try ThumbnailRecord.filter(digests.contains(Column("digest"))).order(Column("key")).fetchAll(db) }
    }

    public func sources(digest: String) throws(CacheError) -> [SourceRecord] {
        try read { db in try SourceRecord.filter(Column("digest") == digest).order(Column("url")).fetchAll(db) }
    }

    /// A failed message's text before its first ':' (only the v10 migration reads failures this way).
    static let errorPrefix = "CASE WHEN instr(COALESCE(last_error, ''), ':') > 0 THEN substr(last_error, 1, instr(last_error, ':') - 1) ELSE '' END"

    public func failureGroups(limit: Int) throws(CacheError) -> [FailureGroup] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT COALESCE(failure_kind, 'other') AS kind, COUNT(*) AS n FROM sources WHERE status = 'failed'
                GROUP BY kind ORDER BY n DESC, kind LIMIT ?
                """, arguments: [limit]).map { FailureGroup(kind: FailureKind(named: $0["kind"]), count: $0["n"]) }
        }
    }

    public func failedSources(kind: FailureKind?, limit: Int, offset: Int) throws(CacheError) -> IndexPage<SourceRecord> {
        try read { db in
            let filter = kind == nil ? "" : " AND COALESCE(failure_kind, 'other') = ?"
            let arguments: StatementArguments = kind.map { [$0.rawValue] } ?? []
            return IndexPage(
                rows: try SourceRecord.fetchAll(db, sql: "SELECT * FROM sources WHERE status = 'failed'\(filter) ORDER BY url LIMIT ? OFFSET ?",
                                                arguments: arguments + [limit, offset]),
                total: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sources WHERE status = 'failed'\(filter)", arguments: arguments) ?? 0)
        }
    }

    static let mismatch = """
        declared_width > 0 AND declared_height > 0 AND decoded_width > 0 AND decoded_height > 0
        AND ABS(declared_width * decoded_height - declared_height * decoded_width) * 100 > declared_width * decoded_height
        """

    public func sizeMismatches(limit: Int, offset: Int) throws(CacheError) -> IndexPage<SourceRecord> {
        try read { db in
            IndexPage(
                rows: try SourceRecord.fetchAll(db, sql: """
                    SELECT * FROM sources WHERE \(Self.mismatch)
                    ORDER BY ABS(1.0 * declared_width * decoded_height / (declared_height * decoded_width) - 1) DESC, url
                    LIMIT ? OFFSET ?
                    """, arguments: [limit, offset]),
                total: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sources WHERE \(Self.mismatch)") ?? 0)
        }
    }

    public func seedLocations(urls: [String]) throws(CacheError) -> [String: [SeedLocation]] {
        try read { db in
            var locations: [String: [SeedLocation]] = [:]
            for chunk in stride(from: 0, to: urls.count, by: 500).map({ urls[$0..<min($0 + 500, urls.count)] }) {
                let rows = try Row.fetchAll(db, sql: """
                    SELECT url, seed_path, line FROM seed_references WHERE url IN (\(databaseQuestionMarks(count: chunk.count)))
                    ORDER BY seed_path, line
                    """, arguments: StatementArguments(Array(chunk)))
                for row in rows { locations[row["url"], default: []].append(SeedLocation(path: row["seed_path"], line: row["line"])) }
            }
            return locations
        }
    }
}
