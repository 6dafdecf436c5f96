import Foundation
import GRDB

/// The dashboard's pages, in SQLite.
extension CacheIndex: DashboardQueries {
    public func recentObjects(_ filter: ObjectFilter, limit: Int, offset: Int) throws(CacheError) -> IndexPage<ObjectRecord> {
        try read { db in
            let (name, condition, arguments): (String, String, StatementArguments) = switch (filter.format, filter.animated) {
            case (nil, false): ("recent originals", "", [])
            case (let format?, false): ("recent originals of a format", " WHERE format = ?", [format])
            case (nil, true): ("recent animated originals", " WHERE frames > 1", [])
            case (let format?, true): ("recent animated originals of a format", " WHERE frames > 1 AND format = ?", [format])
            }
            return IndexPage(rows: try ObjectRecord.fetchAll(db, sql: Self.searchStatement(name), arguments: arguments + [limit, offset]),
                             total: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM objects" + condition, arguments: arguments) ?? 0)
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
            guard let kind else {
                return IndexPage(
                    rows: try SourceRecord.fetchAll(db, sql: "SELECT * FROM sources WHERE status = 'failed' ORDER BY url LIMIT ? OFFSET ?",
                                                    arguments: [limit, offset]),
                    total: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sources WHERE status = 'failed'") ?? 0)
            }
            return IndexPage(
                rows: try SourceRecord.fetchAll(db, sql: Self.searchStatement("failed of a kind"), arguments: [kind.rawValue, limit, offset]),
                total: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sources WHERE status = 'failed' AND COALESCE(failure_kind, 'other') = ?",
                                        arguments: [kind.rawValue]) ?? 0)
        }
    }

    static let mismatch = """
        declared_width > 0 AND declared_height > 0 AND decoded_width > 0 AND decoded_height > 0
        AND ABS(declared_width * decoded_height - declared_height * decoded_width) * 100 > declared_width * decoded_height
        """

    public func sizeMismatches(limit: Int, offset: Int) throws(CacheError) -> IndexPage<SourceRecord> {
        try read { db in
            IndexPage(rows: try SourceRecord.fetchAll(db, sql: Self.searchStatement("mismatches worst first"), arguments: [limit, offset]),
                      total: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sources WHERE \(Self.mismatch)") ?? 0)
        }
    }

    /// The first `perURL` places of each URL in path order (`seed_references_url_path`), and a count when there are more.
    public func seedLocations(urls: [String], perURL: Int) throws(CacheError) -> [String: SeedLocations] {
        try read { db in
            var locations: [String: SeedLocations] = [:]
            for url in Set(urls) {
                let first = try Row.fetchAll(db, sql: Self.searchStatement("seed locations"), arguments: [url, perURL])
                    .map { SeedLocation(path: $0["seed_path"], line: $0["line"]) }
                guard !first.isEmpty else { continue }
                let total = first.count < perURL ? first.count
                    : try Int.fetchOne(db, sql: Self.statement("reference count"), arguments: [url]) ?? first.count
                locations[url] = SeedLocations(first: first, total: total)
            }
            return locations
        }
    }

    static func searchStatement(_ name: String) -> String {
        searchStatements.first { $0.name == name }!.sql
    }
}
