import Foundation
import PostgresNIO

/// Keyset-paged reads (`IndexPaging`), as `CacheIndex+Paging` does them in SQLite: byte order
/// (COLLATE "C"), each answered from an index (`v13: paging indexes`), as `pagePlans` shows.
extension PostgresIndex {
    typealias Statement = (name: String, sql: String, values: [any PostgresEncodable & Sendable])

    static let pageStatements: [Statement] = [
        ("sources page", """
            SELECT \(sourceColumns) FROM sources WHERE url COLLATE "C" > $1 ORDER BY url COLLATE "C" LIMIT $2
            """, ["", 500]),
        ("seed file page", """
            SELECT \(sourceColumns) FROM sources WHERE url COLLATE "C" > $1
                AND url IN (SELECT url FROM seed_references WHERE seed_path = $2)
            ORDER BY url COLLATE "C" LIMIT $3
            """, ["", "posts/a.md", 500]),
        ("section page", """
            SELECT \(sourceColumns) FROM sources WHERE url COLLATE "C" > $1
                AND url IN (SELECT url FROM seed_references WHERE seed_path COLLATE "C" >= $2 AND seed_path COLLATE "C" < $3)
            ORDER BY url COLLATE "C" LIMIT $4
            """, ["", "posts/", "posts0", 500]),
        ("page originals", "SELECT \(objectColumns) FROM objects WHERE digest = ANY($1::text[])", [["a", "b"]]),
        ("page thumbnails", "SELECT \(thumbnailColumns) FROM thumbnails WHERE digest = ANY($1::text[])", [["a", "b"]]),
        // The first $2 references of each URL of the page, in seed order (v14's B-tree holds that order).
        ("page references", """
            SELECT r.url, r.seed_path, r.line, r.in_body, r.focus_x, r.focus_y FROM unnest($1::text[]) AS page(url)
            CROSS JOIN LATERAL (SELECT * FROM seed_references s WHERE s.url = page.url
                                ORDER BY s.seed_path COLLATE "C" LIMIT $2) r
            """, [["a", "b"], IndexContents.referencesPerURL]),
        ("reference counts", """
            SELECT url, COUNT(*) FROM seed_references WHERE url = ANY($1::text[]) GROUP BY url
            """, [["a", "b"]]),
        ("thumbnails page", """
            SELECT \(thumbnailColumns) FROM thumbnails WHERE key COLLATE "C" > $1 ORDER BY key COLLATE "C" LIMIT $2
            """, ["", 500]),
        ("originals page", """
            SELECT digest, bytes FROM objects WHERE digest COLLATE "C" > $1 ORDER BY digest COLLATE "C" LIMIT $2
            """, ["", 500]),
        ("known originals", "SELECT digest FROM objects WHERE digest = ANY($1::text[])", [["a", "b"]]),
        ("known thumbnails", "SELECT key FROM thumbnails WHERE key = ANY($1::text[])", [["a", "b"]]),
    ]

    static func statement(_ name: String) -> String {
        pageStatements.first { $0.name == name }!.sql
    }

    static func bound(_ sql: String, _ values: [any PostgresEncodable & Sendable]) throws -> PostgresQuery {
        var binds = PostgresBindings(capacity: values.count)
        for value in values { try binds.append(value, context: .default) }
        return PostgresQuery(unsafeSQL: sql, binds: binds)
    }

    public func contentsPage(_ scope: SeedScope, after: String?, limit: Int, references: Bool) throws(CacheError) -> IndexContents {
        try read { session in
            let start = after ?? ""
            let query: PostgresQuery
            switch scope {
            case .all:
                query = try Self.bound(Self.statement("sources page"), [start, limit])
            case .file(let name):
                // A path from the seeds folder is looked up in the index; a bare name elsewhere, by LIKE.
                let path = try Self.resolved(session, seedPath: name)
                let exact = try session.query("SELECT EXISTS (SELECT 1 FROM seed_references WHERE seed_path = \(path))")
                    .first?.decode(Bool.self) ?? false
                query = exact
                    ? try Self.bound(Self.statement("seed file page"), [start, path, limit])
                    : try Self.bound("""
                        SELECT \(Self.sourceColumns) FROM sources WHERE url COLLATE "C" > $1
                            AND url IN (SELECT url FROM seed_references WHERE seed_path LIKE $2)
                        ORDER BY url COLLATE "C" LIMIT $3
                        """, [start, SeedScope.suffixPattern(name), limit])
            case .section(let folder):
                let range = SeedScope.range(ofSection: try Self.resolved(session, seedPath: folder))
                query = try Self.bound(Self.statement("section page"), [start, range.from, range.to, limit])
            }
            let sources = try session.query(query).map(Self.source)
            return try Self.contents(session, of: sources, references: references)
        }
    }

    private static func contents(_ session: PostgresSession, of sources: [SourceRecord], references withReferences: Bool) throws -> IndexContents {
        let digests = Array(Set(sources.compactMap(\.digest)))
        var objects: [String: ObjectRecord] = [:]
        for object in try session.query(bound(statement("page originals"), [digests])).map(Self.object) {
            objects[object.digest] = object
        }
        let thumbnails = Dictionary(grouping: try session.query(bound(statement("page thumbnails"), [digests])).map(Self.thumbnail),
                                    by: \.digest)
        var references: [String: [SeedReference]] = [:]
        let cap = IndexContents.referencesPerURL
        for row in try withReferences ? session.query(bound(statement("page references"), [sources.map(\.url), cap])) : [] {
            let (url, path, line, inBody, focusX, focusY) = try row.decode((String, String, Int?, Bool, Double?, Double?).self)
            references[url, default: []].append(SeedReference(seedPath: path, url: url, line: line ?? 0, inBody: inBody,
                                                              focusX: focusX, focusY: focusY))
        }
        var counts: [String: Int] = [:]
        let full = references.filter { $0.value.count == cap }.map(\.key)
        for row in try full.isEmpty ? [] : session.query(bound(statement("reference counts"), [full])) {
            let (url, count) = try row.decode((String, Int).self)
            if count > cap { counts[url] = count }
        }
        return IndexContents(sources: sources, objects: objects, thumbnails: thumbnails, references: references,
                             referenceCounts: counts)
    }

    public func thumbnailsPage(after: String?, limit: Int) throws(CacheError) -> [ThumbnailRecord] {
        try read { session in try session.query(Self.bound(Self.statement("thumbnails page"), [after ?? "", limit])).map(Self.thumbnail) }
    }

    public func objectsPage(after: String?, limit: Int) throws(CacheError) -> [(digest: String, bytes: Int)] {
        try read { session in
            try session.query(Self.bound(Self.statement("originals page"), [after ?? "", limit])).map { row in
                let (digest, bytes) = try row.decode((String, Int).self)
                return (digest: digest, bytes: bytes)
            }
        }
    }

    public func knownBlobs(originals: [String], thumbnails: [String]) throws(CacheError) -> Set<String> {
        try read { session in
            var known = Set<String>()
            for row in try session.query(Self.bound(Self.statement("known originals"), [originals])) { known.insert(try row.decode(String.self)) }
            for row in try session.query(Self.bound(Self.statement("known thumbnails"), [thumbnails])) { known.insert(try row.decode(String.self)) }
            return known
        }
    }

    /// `EXPLAIN` of each page statement with scans of the whole table, bitmap scans and sorts
    /// discouraged: on a small table the planner would rightly scan and sort; this asks whether
    /// an index *can* answer it in order (a plan that still scans or sorts cannot).
    public func pagePlans() throws(CacheError) -> [String: String] {
        try read { session in
            try session.query("SET LOCAL enable_seqscan = off")
            try session.query("SET LOCAL enable_bitmapscan = off")
            try session.query("SET LOCAL enable_sort = off")
            return try Self.explain(session, Self.pageStatements)
        }
    }

    /// `EXPLAIN` of each statement, by name; `prepare` runs before each (to set what the planner may use).
    static func explain(_ session: PostgresSession, _ statements: [Statement],
                        prepare: (Statement) throws -> Void = { _ in }) throws -> [String: String] {
        var plans: [String: String] = [:]
        for statement in statements {
            try prepare(statement)
            plans[statement.name] = try session.query(bound("EXPLAIN " + statement.sql, statement.values))
                .map { try $0.decode(String.self) }.joined(separator: "\n")
        }
        return plans
    }
}
