import Foundation
import PostgresNIO

/// The incremental sync's seed files and set queries, as `CacheIndex+Seeds` does them in SQLite.
extension PostgresIndex: SeedFileStorage {
    public func seedFiles(paths: [String]) throws(CacheError) -> [String: SeedFileRecord] {
        try read { session in
            let rows = try session.query("""
                SELECT path, size, modified_ns, sha256, parser, is_seed, problems, recorded_ns FROM seed_files WHERE path = ANY(\(paths)::text[])
                """).map { row in
                let (path, size, modified, sha256, parser, isSeed, problems, recorded) = try row.decode(
                    (String, Int, Int64, String, String, Bool, String?, Int64).self)
                return SeedFileRecord(path: path, size: size, modifiedNanoseconds: modified, sha256: sha256, parser: parser, isSeed: isSeed,
                                      problems: SeedFileRecord.problems(from: problems), recordedNanoseconds: recorded)
            }
            return Dictionary(rows.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        }
    }

    public func seedFilePaths(after: String?, limit: Int) throws(CacheError) -> [String] {
        try read { session in
            try session.query("""
                SELECT path COLLATE "C" FROM seed_files WHERE path COLLATE "C" > \(after ?? "") ORDER BY 1 LIMIT \(limit)
                """).map { try $0.decode(String.self) }
        }
    }

    public func recordSeedFiles(_ update: SeedFilesUpdate) throws(CacheError) {
        let gone = update.removed + update.read.map(\.path)
        let files = update.read + update.touched
        // Times alone change nothing a reader derives from the index (the manifest).
        try transaction(write: update.changesReferences) { session in
            if update.replacesAll {
                try session.query("DELETE FROM seed_files")
                try session.query("DELETE FROM seed_references")
            }
            try session.query("DELETE FROM seed_files WHERE path = ANY(\(gone)::text[])")
            try session.query("DELETE FROM seed_references WHERE seed_path = ANY(\(gone)::text[])")
            // Arrays bound once: one statement for a batch of files, not a round trip each.
            try session.query("""
                INSERT INTO seed_files (path, size, modified_ns, sha256, parser, is_seed, problems, recorded_ns)
                SELECT p, s, m, h, r, i, NULLIF(e, ''), t FROM unnest(\(files.map(\.path))::text[], \(files.map(\.size))::int8[],
                    \(files.map(\.modifiedNanoseconds))::int8[], \(files.map(\.sha256))::text[], \(files.map(\.parser))::text[],
                    \(files.map(\.isSeed))::bool[], \(files.map { $0.problemsText ?? "" })::text[], \(files.map(\.recordedNanoseconds))::int8[])
                    AS f(p, s, m, h, r, i, e, t)
                ON CONFLICT (path) DO UPDATE SET size = excluded.size, modified_ns = excluded.modified_ns, sha256 = excluded.sha256,
                    parser = excluded.parser, is_seed = excluded.is_seed, problems = excluded.problems, recorded_ns = excluded.recorded_ns
                """)
            try Self.insert(session, SeedReference.merged(update.references))
        }
    }

    public func finishSeedFiles(at date: Date, droppingUnknown: Bool) throws(CacheError) {
        try transaction(write: droppingUnknown) { session in
            if droppingUnknown {
                try session.query("DELETE FROM seed_references r WHERE NOT EXISTS (SELECT 1 FROM seed_files f WHERE f.path = r.seed_path)")
            }
            try session.query("""
                UPDATE sources SET referenced_at = \(date)
                WHERE (referenced_at IS NULL OR referenced_at < \(date.addingTimeInterval(-SeedFilesUpdate.restampAfter)))
                AND url IN (SELECT url FROM seed_references)
                """)
        }
    }

    /// Inserts references already merged (one per seed and URL); -1 stands for "none" in the arrays.
    static func insert(_ session: PostgresSession, _ references: [SeedReference]) throws {
        try session.query("""
            INSERT INTO seed_references (seed_path, url, line, width, height, declared_cached, in_body, focus_x, focus_y)
            SELECT p, u, l, NULLIF(w, -1), NULLIF(h, -1), CASE c WHEN -1 THEN NULL ELSE c = 1 END, b, NULLIF(fx, -1), NULLIF(fy, -1)
            FROM unnest(\(references.map(\.seedPath))::text[], \(references.map(\.url))::text[], \(references.map(\.line))::int8[],
                \(references.map { $0.width ?? -1 })::int8[], \(references.map { $0.height ?? -1 })::int8[],
                \(references.map { $0.declaredCached.map { $0 ? 1 : 0 } ?? -1 })::int8[], \(references.map(\.inBody))::bool[],
                \(references.map { $0.focusX ?? -1 })::float8[], \(references.map { $0.focusY ?? -1 })::float8[])
                AS t(p, u, l, w, h, c, b, fx, fy)
            ON CONFLICT DO NOTHING
            """)
    }

    public func dueURLs(now: Date, all: Bool, after: String?, limit: Int) throws(CacheError) -> [String] {
        try read { session in
            let rows = all ? try session.query("""
                SELECT DISTINCT url COLLATE "C" FROM seed_references WHERE url COLLATE "C" > \(after ?? "") ORDER BY 1 LIMIT \(limit)
                """) : try session.query("""
                SELECT DISTINCT r.url COLLATE "C" FROM seed_references r
                LEFT JOIN sources s ON s.url = r.url LEFT JOIN objects o ON o.digest = s.digest
                WHERE r.url COLLATE "C" > \(after ?? "") AND (s.url IS NULL OR s.status != 'ok' OR NOT s.is_cached
                    OR s.last_error IS NOT NULL OR s.expires_at IS NULL OR s.expires_at <= \(now) OR o.digest IS NULL OR o.blurhash IS NULL)
                ORDER BY 1 LIMIT \(limit)
                """)
            return try rows.map { try $0.decode(String.self) }
        }
    }

    public func seedReferences(urls: [String], perURL: Int?) throws(CacheError) -> [SeedReference] {
        let cap = perURL ?? Int.max
        return try read { session in
            var references = try session.query("""
                SELECT \(unescaped: Self.referenceColumns) FROM (
                    SELECT *, ROW_NUMBER() OVER (PARTITION BY url ORDER BY seed_path COLLATE "C", line) AS n
                    FROM seed_references WHERE url = ANY(\(urls)::text[])) r
                WHERE n <= \(cap)
                """).map(Self.reference)
            references += try SeedReference.declaringBeyond(references, perURL: cap) { url, column in
                try session.query("""
                    SELECT \(unescaped: Self.referenceColumns) FROM seed_references WHERE url = \(url) AND \(unescaped: column) IS NOT NULL
                    ORDER BY seed_path COLLATE "C", line LIMIT 1
                    """).map(Self.reference).first
            }
            return references.sorted(by: SeedReference.inSeedOrder)
        }
    }

    static let referenceColumns = "seed_path, url, line, width, height, declared_cached, in_body, focus_x, focus_y"

    static func reference(_ row: PostgresRow) throws -> SeedReference {
        let (path, url, line, width, height, declared, inBody, focusX, focusY) =
            try row.decode((String, String, Int?, Int?, Int?, Bool?, Bool, Double?, Double?).self)
        return SeedReference(seedPath: path, url: url, line: line ?? 0, width: width, height: height,
                             declaredCached: declared, inBody: inBody, focusX: focusX, focusY: focusY)
    }

    public func sources(urls: [String]) throws(CacheError) -> [String: SourceRecord] {
        try read { session in
            let rows = try session.query("SELECT \(unescaped: Self.sourceColumns) FROM sources WHERE url = ANY(\(urls)::text[])").map(Self.source)
            return Dictionary(rows.map { ($0.url, $0) }, uniquingKeysWith: { a, _ in a })
        }
    }

    public func seedPathsToWriteBack() throws(CacheError) -> [String] {
        try read { session in
            try session.query("""
                SELECT DISTINCT r.seed_path COLLATE "C" FROM seed_references r LEFT JOIN sources s ON s.url = r.url
                WHERE NOT r.in_body AND (r.declared_cached IS NULL OR r.declared_cached != COALESCE(s.is_cached, FALSE))
                ORDER BY 1
                """).map { try $0.decode(String.self) }
        }
    }

    public func referencedURLCount() throws(CacheError) -> Int {
        try read { session in try session.scalar("SELECT COUNT(DISTINCT url) FROM seed_references", as: Int.self) ?? 0 }
    }

    public func syncedRenditions() throws(CacheError) -> String? {
        try read { session in try session.scalar("SELECT text FROM meta WHERE key = \(MetaKey.syncedRenditions)", as: String.self) }
    }

    /// Times and fingerprints are no content: readers need not rebuild (the generation stays).
    public func recordSyncFinished(at date: Date, renditions: String) throws(CacheError) {
        try transaction(write: false) { session in
            try Self.setMeta(session, MetaKey.lastSync, at: date)
            try session.query("""
                INSERT INTO meta (key, text) VALUES (\(MetaKey.syncedRenditions), \(renditions))
                ON CONFLICT (key) DO UPDATE SET text = excluded.text
                """)
        }
    }
}
