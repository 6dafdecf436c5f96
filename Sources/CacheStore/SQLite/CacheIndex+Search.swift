import Foundation
import GRDB

/// The dashboard's search and filters in SQLite: each page and each count is read from an index
/// (`v15: dashboard search`), whatever the size of the cache; `dashboardPlans` shows which.
///
/// One of the search's conditions drives the read: a text (the trigram index, in the order URLs
/// were first seen) when it alone is given or matches fewer URLs than the other driver has rows
/// (each counted up to 50,000); else a seed path (its files' references, in path order), else
/// failed or mismatched (indexes in URL order), else every URL in URL order. The other
/// conditions filter what the driver hands over.
extension CacheIndex {
    /// The statements, by name, with arguments to EXPLAIN them by; `search` adds the filters it needs.
    static let searchStatements: [(name: String, sql: String, arguments: StatementArguments)] = [
        ("search by text", searchByText(filters: ""), ["\"abc\"", "0", "%abc%", 50]),
        ("count by text", "SELECT COUNT(*) FROM (SELECT 1 FROM sources_url_search WHERE sources_url_search MATCH ? LIMIT ?)", ["\"abc\"", 10_000]),
        ("search by seed", searchBySeed(filters: ""), ["posts/a", "posts/a0", "posts/a", "posts/a/", "posts/a/", "", "", 50]),
        ("search failed", "SELECT * FROM sources WHERE status = 'failed' AND url > ? ORDER BY url LIMIT ?", ["", 50]),
        ("search mismatched", "SELECT * FROM sources WHERE \(mismatch) AND url > ? ORDER BY url LIMIT ?", ["", 50]),
        ("failed of a kind", """
            SELECT * FROM sources WHERE status = 'failed' AND COALESCE(failure_kind, 'other') = ? ORDER BY url LIMIT ? OFFSET ?
            """, ["dns", 50, 0]),
        ("mismatches worst first", "SELECT * FROM sources WHERE \(mismatch) ORDER BY \(mismatchRatio) DESC, url LIMIT ? OFFSET ?", [50, 0]),
        ("recent originals", "SELECT * FROM objects ORDER BY created_at DESC, digest LIMIT ? OFFSET ?", [48, 0]),
        ("recent originals of a format", "SELECT * FROM objects WHERE format = ? ORDER BY created_at DESC, digest LIMIT ? OFFSET ?",
         ["gif", 48, 0]),
        ("recent animated originals", "SELECT * FROM objects WHERE frames > 1 ORDER BY created_at DESC, digest LIMIT ? OFFSET ?", [48, 0]),
        ("recent animated originals of a format", """
            SELECT * FROM objects WHERE frames > 1 AND format = ? ORDER BY created_at DESC, digest LIMIT ? OFFSET ?
            """, ["gif", 48, 0]),
        ("seed locations", "SELECT seed_path, line FROM seed_references WHERE url = ? ORDER BY seed_path LIMIT ?", ["a", 20]),
    ]

    /// How far a declared shape is from the decoded one (0: the same): the mismatch order.
    static let mismatchRatio = "ABS(1.0 * declared_width * decoded_height / (declared_height * decoded_width) - 1)"

    /// Text matches in the trigram index's order (rowid), checked against the URL itself.
    static func searchByText(filters: String) -> String {
        """
        SELECT s.*, f.rowid AS cursor FROM sources_url_search f JOIN sources s ON s.rowid = f.rowid
        WHERE sources_url_search MATCH ? AND f.rowid > ? AND s.url LIKE ? ESCAPE '\\'\(filters)
        ORDER BY f.rowid LIMIT ?
        """
    }

    /// The references of a file or of a folder's files (a B-tree range on the primary key), in
    /// path and URL order: the range from the path to the end of its folder, then the rows that
    /// are the path or in the folder (not "posts/2024-old.md" for "posts/2024").
    static func searchBySeed(filters: String) -> String {
        """
        SELECT s.*, r.seed_path AS cursor_path FROM seed_references r JOIN sources s ON s.url = r.url
        WHERE \(seedCondition) AND (r.seed_path, r.url) > (?, ?)\(filters)
        ORDER BY r.seed_path, r.url LIMIT ?
        """
    }

    /// A reference `r` of the seed file or folder `range` (its arguments: `seedArguments`).
    static let seedCondition = "r.seed_path >= ? AND r.seed_path < ? AND (r.seed_path = ? OR substr(r.seed_path, 1, length(?)) = ?)"
    static func seedArguments(_ range: (exact: String, from: String, to: String)) -> StatementArguments {
        [range.exact, range.to, range.exact, range.from, range.from]
    }

    public func search(_ search: SourceSearch, after: String?, limit: Int) throws(CacheError) -> SearchPage {
        try read { db in
            var search = search
            search.seedPath = try search.seedPath.map { try Self.resolved(db, seedPath: $0) }
            // A text's page cursor is a rowid, every other driver's a URL or a path and a URL.
            let byText = try after.map { Int64($0) != nil } ?? Self.textIsNarrower(db, search)
            let (sql, arguments, cursor) = Self.searchStatement(search, after: after, byText: byText)
            let rows = try Row.fetchAll(db, sql: sql, arguments: arguments + [limit])
            let counted = Self.searchStatement(search, after: nil, byText: byText)
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM (\(counted.sql))",
                                         arguments: counted.arguments + [SourceSearch.countLimit]) ?? 0
            return SearchPage(rows: try rows.map { try SourceRecord(row: $0) }, next: rows.count == limit ? rows.last.map(cursor) : nil,
                              count: count)
        }
    }

    /// Whether the text should drive a search that has another condition to drive it: the
    /// trigram index's matches and the other driver's rows are each counted up to 50,000, and the
    /// fewer wins (a rare text in a large folder, or a common text among a few failures).
    private static func textIsNarrower(_ db: Database, _ search: SourceSearch) throws -> Bool {
        guard let text = search.text else { return false }
        let other: (sql: String, arguments: StatementArguments)
        if let range = search.seedRange {
            other = ("SELECT 1 FROM seed_references WHERE seed_path >= ? AND seed_path < ?", [range.exact, range.to])
        } else if search.failed || search.mismatched {
            other = ("SELECT 1 FROM sources WHERE \(search.failed ? "status = 'failed'" : mismatch)", [])
        } else {
            return true
        }
        let probe = 50_000
        let matches = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM (SELECT 1 FROM sources_url_search WHERE sources_url_search MATCH ? LIMIT ?)",
                                       arguments: [phrase(text), probe]) ?? 0
        let rows = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM (\(other.sql) LIMIT ?)", arguments: other.arguments + [probe]) ?? 0
        return matches < rows
    }

    /// `text` as an FTS5 phrase: with the trigram tokenizer, the URLs that contain it.
    private static func phrase(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// The statement for `search` (its LIMIT's argument left to add), and how a row becomes the
    /// next page's cursor. `byText`: the trigram index drives and every other condition filters.
    private static func searchStatement(_ search: SourceSearch, after: String?, byText: Bool)
        -> (sql: String, arguments: StatementArguments, cursor: (Row) -> String) {
        var filters = "", arguments: StatementArguments = []
        func filter(_ condition: String, _ values: StatementArguments = []) {
            filters += " AND " + condition
            arguments += values
        }
        let text = search.text.map { (match: phrase($0), like: "%" + SeedScope.likeEscaped($0) + "%") }
        // The text or a seed drives, joined with `sources s`: failed and mismatched filter.
        func flags() {
            if search.failed { filter("s.status = 'failed'") }
            if search.mismatched { filter(mismatch) }
        }
        if let text, byText {
            if let range = search.seedRange {
                filter("EXISTS (SELECT 1 FROM seed_references r WHERE r.url = s.url AND \(seedCondition))", seedArguments(range))
            }
            flags()
            return (searchByText(filters: filters), [text.match, Int64(after ?? "") ?? 0, text.like] + arguments,
                    { String($0["cursor"] as Int64) })
        }
        if let range = search.seedRange {
            if let text { filter("s.url LIKE ? ESCAPE '\\'", [text.like]) }
            flags()
            let (path, url) = after.map(seedCursor) ?? ("", "")
            return (searchBySeed(filters: filters), seedArguments(range) + [path, url] + arguments,
                    { $0["cursor_path"] + "\n" + $0["url"] })
        }
        if search.failed && search.mismatched { filter(mismatch) }
        if let text { filter("url LIKE ? ESCAPE '\\'", [text.like]) }
        let driver = search.failed ? "status = 'failed'" : search.mismatched ? mismatch : "TRUE"
        return ("SELECT * FROM sources WHERE \(driver) AND url > ?\(filters) ORDER BY url LIMIT ?", [after ?? ""] + arguments, { $0["url"] })
    }

    /// `path` as the index stores it: a path relative to the seeds folder becomes the first of
    /// its `SeedScope.candidates` that is a seed file or a folder of them (two lookups in the
    /// primary key's order, then one per candidate); unchanged when none is.
    static func resolved(_ db: Database, seedPath path: String) throws -> String {
        guard !path.hasPrefix("/"),
              let lowest = try String.fetchOne(db, sql: "SELECT seed_path FROM seed_references ORDER BY seed_path LIMIT 1"),
              let highest = try String.fetchOne(db, sql: "SELECT seed_path FROM seed_references ORDER BY seed_path DESC LIMIT 1")
        else { return path }
        return try SeedScope.resolve(path, lowest: lowest, highest: highest) { exact, range in
            try Bool.fetchOne(db, sql: """
                SELECT EXISTS (SELECT 1 FROM seed_references WHERE seed_path = ?) OR EXISTS (SELECT 1 FROM seed_references WHERE seed_path >= ? AND seed_path < ?)
                """, arguments: [exact, range.from, range.to]) == true
        }
    }

    /// A seed search's cursor: the path and the URL of the last row, split at the last newline (a URL has none).
    static func seedCursor(_ cursor: String) -> (String, String) {
        guard let split = cursor.lastIndex(of: "\n") else { return (cursor, "") }
        return (String(cursor[..<split]), String(cursor[cursor.index(after: split)...]))
    }

    public func dashboardPlans() throws(CacheError) -> [String: String] {
        try read { db in try Self.explain(db, Self.searchStatements) }
    }
}
