import Foundation
import PostgresNIO

/// The dashboard's search and filters in PostgreSQL, as `CacheIndex+Search` does them in
/// SQLite (the same drivers, in the same order), each read from an index (`v15: dashboard
/// search`). A text is looked up in a pg_trgm GIN index, or the URL B-tree walked with the text
/// as a filter when it matches most URLs: the planner weighs the two.
extension PostgresIndex {
    static let searchStatements: [Statement] = [
        ("search by text", """
            SELECT \(sourceColumns) FROM sources WHERE url ILIKE $1 AND url COLLATE "C" > $2 ORDER BY url COLLATE "C" LIMIT $3
            """, ["%abc%", "", 50]),
        ("count by text", "SELECT COUNT(*) FROM (SELECT 1 FROM sources WHERE url ILIKE $1 LIMIT $2) AS matches", ["%abc%", 10_000]),
        ("search by seed", searchBySeed(filters: "", cursor: ("$4", "$5"), limit: "$6"), ["posts/a", "posts/a/", "posts/a0", "posts/a/b", "", 50]),
        ("search by seed, first page", searchBySeed(filters: "", cursor: nil, limit: "$4"), ["posts/a", "posts/a/", "posts/a0", 50]),
        ("search failed", """
            SELECT \(sourceColumns) FROM sources WHERE status = 'failed' AND url COLLATE "C" > $1 ORDER BY url COLLATE "C" LIMIT $2
            """, ["", 50]),
        ("search mismatched", """
            SELECT \(sourceColumns) FROM sources WHERE \(CacheIndex.mismatch) AND url COLLATE "C" > $1 ORDER BY url COLLATE "C" LIMIT $2
            """, ["", 50]),
        ("failed of a kind", """
            SELECT \(sourceColumns) FROM sources WHERE status = 'failed' AND COALESCE(failure_kind, 'other') = $1
            ORDER BY url COLLATE "C" LIMIT $2 OFFSET $3
            """, ["dns", 50, 0]),
        ("mismatches worst first", """
            SELECT \(sourceColumns) FROM sources WHERE \(CacheIndex.mismatch)
            ORDER BY \(CacheIndex.mismatchRatio) DESC, url COLLATE "C" LIMIT $1 OFFSET $2
            """, [50, 0]),
        ("recent originals", "SELECT \(objectColumns) FROM objects ORDER BY created_at DESC, digest COLLATE \"C\" LIMIT $1 OFFSET $2", [48, 0]),
        ("recent originals of a format", """
            SELECT \(objectColumns) FROM objects WHERE format = $1 ORDER BY created_at DESC, digest COLLATE "C" LIMIT $2 OFFSET $3
            """, ["gif", 48, 0]),
        ("recent animated originals", """
            SELECT \(objectColumns) FROM objects WHERE frames > 1 ORDER BY created_at DESC, digest COLLATE "C" LIMIT $1 OFFSET $2
            """, [48, 0]),
        ("recent animated originals of a format", """
            SELECT \(objectColumns) FROM objects WHERE frames > 1 AND format = $1 ORDER BY created_at DESC, digest COLLATE "C" LIMIT $2 OFFSET $3
            """, ["gif", 48, 0]),
        // The first $2 places of each URL in path order (v14's B-tree holds that order).
        ("seed locations", """
            SELECT r.url, r.seed_path, r.line FROM unnest($1::text[]) AS page(url)
            CROSS JOIN LATERAL (SELECT * FROM seed_references s WHERE s.url = page.url ORDER BY s.seed_path COLLATE "C" LIMIT $2) r
            """, [["a", "b"], 20]),
    ]

    static func searchStatement(_ name: String) -> String {
        searchStatements.first { $0.name == name }!.sql
    }

    /// The references of a file or of a folder's files, in path and URL order ($1 the path, $2
    /// the folder with its '/', $3 the end of its range; `cursor` the placeholders of the last
    /// page's path and URL). The first page has no cursor condition at all: a row comparison
    /// from "" walked every reference before the folder (35 ms at a million), and one from the
    /// range's start, counted again on top of the range, made the planner expect a hundredth of
    /// a folder's rows and walk all 222,000 of them to filter by text.
    /// `sourceColumns` of `sources s`.
    static let joinedSourceColumns = sourceColumns.split(separator: ",")
        .map { "s." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: ", ")

    static func searchBySeed(filters: String, cursor: (path: String, url: String)?, limit: String) -> String {
        """
        SELECT \(joinedSourceColumns), r.seed_path AS cursor_path
        FROM seed_references r JOIN sources s ON s.url = r.url
        WHERE r.seed_path COLLATE "C" >= $1 AND r.seed_path COLLATE "C" < $3 AND (r.seed_path = $1 OR starts_with(r.seed_path, $2))
        \(cursor.map { "AND (r.seed_path COLLATE \"C\", r.url) > (\($0.path), \($0.url))" } ?? "")\(filters)
        ORDER BY r.seed_path COLLATE "C", r.url LIMIT \(limit)
        """
    }

    public func search(_ search: SourceSearch, after: String?, limit: Int) throws(CacheError) -> SearchPage {
        try read { session in
            var search = search
            search.seedPath = try search.seedPath.map { try Self.resolved(session, seedPath: $0) }
            let page = try Self.searchQuery(search, after: after, limit: limit)
            let rows = try session.query(page.query)
            let counted = try Self.searchQuery(search, after: nil, limit: SourceSearch.countLimit)
            let count = try session.scalar(Self.bound("SELECT COUNT(*) FROM (\(counted.sql)) AS matches", counted.values), as: Int.self) ?? 0
            return SearchPage(rows: try rows.map(Self.source), next: rows.count == limit ? try rows.last.map(page.cursor) : nil,
                              count: count)
        }
    }

    /// `path` as the index stores it (`CacheIndex.resolved` in SQLite says how).
    static func resolved(_ session: PostgresSession, seedPath path: String) throws -> String {
        guard !path.hasPrefix("/"),
              let lowest = try session.scalar("SELECT seed_path FROM seed_references ORDER BY seed_path COLLATE \"C\" LIMIT 1", as: String.self),
              let highest = try session.scalar("SELECT seed_path FROM seed_references ORDER BY seed_path COLLATE \"C\" DESC LIMIT 1", as: String.self)
        else { return path }
        return try SeedScope.resolve(path, lowest: lowest, highest: highest) { exact, range in
            // The range's first path in the "C" B-tree: a bare EXISTS let the planner choose a
            // sequential scan, which took 50 ms at a million to reach a folder's first row.
            try session.scalar("""
                SELECT EXISTS (SELECT 1 FROM seed_references WHERE seed_path = \(exact))
                    OR EXISTS (SELECT 1 FROM seed_references WHERE seed_path COLLATE "C" >= \(range.from)
                               AND seed_path COLLATE "C" < \(range.to) ORDER BY seed_path COLLATE "C" LIMIT 1)
                """, as: Bool.self) == true
        }
    }

    private struct SearchQuery {
        var sql: String
        var values: [any PostgresEncodable & Sendable]
        var cursor: (PostgresRow) throws -> String
        var query: PostgresQuery { get throws { try PostgresIndex.bound(sql, values) } }
    }

    /// The statement for `search` with its values, and how a row becomes the next page's cursor.
    private static func searchQuery(_ search: SourceSearch, after: String?, limit: Int) throws -> SearchQuery {
        var values: [any PostgresEncodable & Sendable] = [], filters = ""
        func bind(_ value: any PostgresEncodable & Sendable) -> String {
            values.append(value)
            return "$\(values.count)"
        }
        let like = search.text.map { "%" + SeedScope.likeEscaped($0) + "%" }
        let urlCursor: (PostgresRow) throws -> String = { try $0.makeRandomAccess()[0].decode(String.self) }
        if let range = search.seedRange {
            for value in [range.exact, range.from, range.to] { _ = bind(value) }
            let cursor = after.map(CacheIndex.seedCursor).map { (path: bind($0.0), url: bind($0.1)) }
            if let like { filters += " AND s.url ILIKE \(bind(like))" }
            if search.failed { filters += " AND s.status = 'failed'" }
            if search.mismatched { filters += " AND " + CacheIndex.mismatch }
            return SearchQuery(sql: searchBySeed(filters: filters, cursor: cursor, limit: bind(limit)), values: values) { row in
                try row.makeRandomAccess()["cursor_path"].decode(String.self) + "\n" + urlCursor(row)
            }
        }
        let driver: String
        if search.failed || search.mismatched {
            driver = search.failed ? "status = 'failed'" : CacheIndex.mismatch
            if search.failed && search.mismatched { filters += " AND " + CacheIndex.mismatch }
            if let like { filters += " AND url ILIKE \(bind(like))" }
        } else if let like {
            driver = "url ILIKE \(bind(like))"
        } else {
            driver = "TRUE"
        }
        let start = bind(after ?? "")
        return SearchQuery(sql: """
            SELECT \(sourceColumns) FROM sources WHERE \(driver)\(filters) AND url COLLATE "C" > \(start)
            ORDER BY url COLLATE "C" LIMIT \(bind(limit))
            """, values: values, cursor: urlCursor)
    }

    public func dashboardPlans() throws(CacheError) -> [String: String] {
        try read { session in
            // Whether an index can answer each without a sort, as `pagePlans` asks; a text's count,
            // whether the trigram index can (a B-tree walk would read every URL).
            try session.query("SET LOCAL enable_seqscan = off")
            try session.query("SET LOCAL enable_sort = off")
            try session.query("SET LOCAL enable_incremental_sort = off")
            return try Self.explain(session, Self.searchStatements) { statement in
                let text = statement.name == "count by text"
                try session.query(PostgresQuery(unsafeSQL: "SET LOCAL enable_indexscan = \(text ? "off" : "on")"))
                try session.query(PostgresQuery(unsafeSQL: "SET LOCAL enable_indexonlyscan = \(text ? "off" : "on")"))
            }
        }
    }
}
