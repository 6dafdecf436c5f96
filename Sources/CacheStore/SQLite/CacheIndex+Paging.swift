import Foundation
import GRDB

/// Keyset-paged reads (`IndexPaging`): every statement here is answered from an index, as
/// `pagePlans` shows.
extension CacheIndex {
    /// The page statements, by name, with arguments to EXPLAIN them by.
    static let pageStatements: [(name: String, sql: String, arguments: StatementArguments)] = [
        ("sources page", "SELECT * FROM sources WHERE url > ? ORDER BY url LIMIT ?", ["", 500]),
        ("seed file page", """
            SELECT * FROM sources WHERE url > ? AND url IN (SELECT url FROM seed_references WHERE seed_path = ?)
            ORDER BY url LIMIT ?
            """, ["", "posts/a.md", 500]),
        ("section page", """
            SELECT * FROM sources WHERE url > ? AND url IN
                (SELECT url FROM seed_references WHERE seed_path >= ? AND seed_path < ? AND url > ?)
            ORDER BY url LIMIT ?
            """, ["", "posts/", "posts0", "", 500]),
        ("page originals", objectsIn(2), ["a", "b"]),
        ("page thumbnails", thumbnailsIn(2), ["a", "b"]),
        ("page references", referencesOf, ["a", IndexContents.referencesPerURL]),
        ("reference count", "SELECT COUNT(*) FROM seed_references WHERE url = ?", ["a"]),
        ("thumbnails page", "SELECT * FROM thumbnails WHERE key > ? ORDER BY key LIMIT ?", ["", 500]),
        ("originals page", "SELECT digest, bytes FROM objects WHERE digest > ? ORDER BY digest LIMIT ?", ["", 500]),
        ("known originals", knownOriginalsIn(2), ["a", "b"]),
        ("known thumbnails", knownThumbnailsIn(2), ["a", "b"]),
    ]
    static func statement(_ name: String) -> String {
        pageStatements.first { $0.name == name }!.sql
    }
    static func objectsIn(_ count: Int) -> String { "SELECT * FROM objects WHERE digest IN (\(databaseQuestionMarks(count: count)))" }
    static func thumbnailsIn(_ count: Int) -> String { "SELECT * FROM thumbnails WHERE digest IN (\(databaseQuestionMarks(count: count)))" }
    /// The first references of one URL in seed order (`seed_references_url_path`, v14, holds that order).
    static let referencesOf = """
        SELECT url, seed_path, line, in_body, focus_x, focus_y FROM seed_references
        WHERE url = ? ORDER BY seed_path LIMIT ?
        """
    static func knownOriginalsIn(_ count: Int) -> String { "SELECT digest FROM objects WHERE digest IN (\(databaseQuestionMarks(count: count)))" }
    static func knownThumbnailsIn(_ count: Int) -> String { "SELECT key FROM thumbnails WHERE key IN (\(databaseQuestionMarks(count: count)))" }

    public func contentsPage(_ scope: SeedScope, after: String?, limit: Int, references: Bool) throws(CacheError) -> IndexContents {
        try read { db in
            let sources: [SourceRecord]
            let start = after ?? ""
            switch scope {
            case .all:
                sources = try SourceRecord.fetchAll(db, sql: Self.statement("sources page"), arguments: [start, limit])
            case .file(let name):
                // A path from the seeds folder is looked up in the index; a bare name elsewhere, by LIKE.
                let path = try Self.resolved(db, seedPath: name)
                let exact = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM seed_references WHERE seed_path = ?)", arguments: [path]) ?? false
                sources = exact
                    ? try SourceRecord.fetchAll(db, sql: Self.statement("seed file page"), arguments: [start, path, limit])
                    : try SourceRecord.fetchAll(db, sql: """
                        SELECT * FROM sources WHERE url > ? AND url IN
                            (SELECT url FROM seed_references WHERE seed_path LIKE ? ESCAPE '\\')
                        ORDER BY url LIMIT ?
                        """, arguments: [start, SeedScope.suffixPattern(name), limit])
            case .section(let folder):
                let range = SeedScope.range(ofSection: try Self.resolved(db, seedPath: folder))
                sources = try SourceRecord.fetchAll(db, sql: Self.statement("section page"),
                                                    arguments: [start, range.from, range.to, start, limit])
            }
            return try Self.contents(db, of: sources, references: references)
        }
    }

    /// The originals, thumbnails and references of `sources`.
    private static func contents(_ db: Database, of sources: [SourceRecord], references withReferences: Bool) throws -> IndexContents {
        let digests = Array(Set(sources.compactMap(\.digest)))
        let urls = sources.map(\.url)
        var references: [String: [SeedReference]] = [:]
        var objects: [String: ObjectRecord] = [:]
        var thumbnails: [String: [ThumbnailRecord]] = [:]
        for chunk in chunks(digests) {
            for object in try ObjectRecord.fetchAll(db, sql: objectsIn(chunk.count), arguments: StatementArguments(chunk)) {
                objects[object.digest] = object
            }
            for thumbnail in try ThumbnailRecord.fetchAll(db, sql: thumbnailsIn(chunk.count), arguments: StatementArguments(chunk)) {
                thumbnails[thumbnail.digest, default: []].append(thumbnail)
            }
        }
        var counts: [String: Int] = [:]
        let cap = IndexContents.referencesPerURL
        for url in withReferences ? urls : [] {
            let rows = try Row.fetchCursor(db, sql: referencesOf, arguments: [url, cap])
            var read: [SeedReference] = []
            while let row = try rows.next() {
                read.append(SeedReference(seedPath: row["seed_path"], url: url, line: row["line"] ?? 0,
                                          inBody: row["in_body"], focusX: row["focus_x"], focusY: row["focus_y"]))
            }
            if read.count == cap {
                counts[url] = try Int.fetchOne(db, sql: statement("reference count"), arguments: [url]) ?? cap
            }
            if !read.isEmpty { references[url] = read }
        }
        return IndexContents(sources: sources, objects: objects, thumbnails: thumbnails, references: references,
                             referenceCounts: counts.filter { $0.value > cap })
    }

    private static func chunks(_ values: [String]) -> [ArraySlice<String>] {
        stride(from: 0, to: values.count, by: 500).map { values[$0..<min($0 + 500, values.count)] }
    }

    public func thumbnailsPage(after: String?, limit: Int) throws(CacheError) -> [ThumbnailRecord] {
        try read { db in try ThumbnailRecord.fetchAll(db, sql: Self.statement("thumbnails page"), arguments: [after ?? "", limit]) }
    }

    public func objectsPage(after: String?, limit: Int) throws(CacheError) -> [(digest: String, bytes: Int)] {
        try read { db in
            try Row.fetchAll(db, sql: Self.statement("originals page"), arguments: [after ?? "", limit])
                .map { (digest: $0["digest"] as String, bytes: $0["bytes"] as Int) }
        }
    }

    public func knownBlobs(originals: [String], thumbnails: [String]) throws(CacheError) -> Set<String> {
        try read { db in
            var known = Set<String>()
            for chunk in Self.chunks(originals) {
                known.formUnion(try String.fetchAll(db, sql: Self.knownOriginalsIn(chunk.count), arguments: StatementArguments(chunk)))
            }
            for chunk in Self.chunks(thumbnails) {
                known.formUnion(try String.fetchAll(db, sql: Self.knownThumbnailsIn(chunk.count), arguments: StatementArguments(chunk)))
            }
            return known
        }
    }

    /// `EXPLAIN QUERY PLAN` of each page statement, its lines joined by newlines.
    public func pagePlans() throws(CacheError) -> [String: String] {
        try read { db in try Self.explain(db, Self.pageStatements) }
    }

    /// `EXPLAIN QUERY PLAN` of each statement, by name.
    static func explain(_ db: Database, _ statements: [(name: String, sql: String, arguments: StatementArguments)]) throws -> [String: String] {
        var plans: [String: String] = [:]
        for statement in statements {
            plans[statement.name] = try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + statement.sql, arguments: statement.arguments)
                .map { $0["detail"] as String }.joined(separator: "\n")
        }
        return plans
    }
}
