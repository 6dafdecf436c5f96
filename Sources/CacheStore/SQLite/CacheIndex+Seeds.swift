import Foundation
import GRDB

/// The incremental sync's seed files and set queries, in SQLite.
extension CacheIndex: SeedFileStorage {
    public func seedFiles(paths: [String]) throws(CacheError) -> [String: SeedFileRecord] {
        try read { db in
            var files: [String: SeedFileRecord] = [:]
            for chunk in paths.chunked(500) {
                let rows = try Row.fetchCursor(db, sql: """
                    SELECT path, size, modified_ns, sha256, parser, is_seed, problems, recorded_ns FROM seed_files
                    WHERE path IN (\(databaseQuestionMarks(count: chunk.count)))
                    """, arguments: StatementArguments(chunk))
                while let row = try rows.next() {
                    let record = SeedFileRecord(path: row["path"], size: row["size"], modifiedNanoseconds: row["modified_ns"],
                                                sha256: row["sha256"], parser: row["parser"], isSeed: row["is_seed"],
                                                problems: SeedFileRecord.problems(from: row["problems"]), recordedNanoseconds: row["recorded_ns"])
                    files[record.path] = record
                }
            }
            return files
        }
    }

    public func seedFilePaths(after: String?, limit: Int) throws(CacheError) -> [String] {
        try read { db in
            try String.fetchAll(db, sql: "SELECT path FROM seed_files WHERE path > ? ORDER BY path LIMIT ?", arguments: [after ?? "", limit])
        }
    }

    public func recordSeedFiles(_ update: SeedFilesUpdate) throws(CacheError) {
        // Times alone change nothing a reader derives from the index (the manifest).
        try write(bumpingGeneration: update.changesReferences) { db in
            if update.replacesAll {
                try db.execute(sql: "DELETE FROM seed_files")
                try db.execute(sql: "DELETE FROM seed_references")
            }
            for path in update.removed + update.read.map(\.path) {
                try db.execute(sql: "DELETE FROM seed_files WHERE path = ?", arguments: [path])
                try db.execute(sql: "DELETE FROM seed_references WHERE seed_path = ?", arguments: [path])
            }
            let insert = try db.makeStatement(sql: """
                INSERT OR REPLACE INTO seed_files (path, size, modified_ns, sha256, parser, is_seed, problems, recorded_ns)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for file in update.read + update.touched {
                try insert.execute(arguments: [file.path, file.size, file.modifiedNanoseconds, file.sha256, file.parser,
                                               file.isSeed, file.problemsText, file.recordedNanoseconds])
            }
            try Self.insert(db, SeedReference.merged(update.references))
        }
    }

    public func finishSeedFiles(at date: Date, droppingUnknown: Bool) throws(CacheError) {
        try write(bumpingGeneration: droppingUnknown) { db in
            if droppingUnknown {
                try db.execute(sql: "DELETE FROM seed_references WHERE seed_path NOT IN (SELECT path FROM seed_files)")
            }
            try db.execute(sql: """
                UPDATE sources SET referenced_at = ? WHERE (referenced_at IS NULL OR referenced_at < ?)
                AND url IN (SELECT url FROM seed_references)
                """, arguments: [date, date.addingTimeInterval(-SeedFilesUpdate.restampAfter)])
        }
    }

    /// Inserts references already merged (one per seed and URL).
    static func insert(_ db: Database, _ references: [SeedReference]) throws {
        let statement = try db.makeStatement(sql: """
            INSERT OR IGNORE INTO seed_references (seed_path, url, line, width, height, declared_cached, in_body, focus_x, focus_y)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for reference in references {
            try statement.execute(arguments: [reference.seedPath, reference.url, reference.line, reference.width, reference.height,
                                              reference.declaredCached, reference.inBody, reference.focusX, reference.focusY])
        }
    }

    public func dueURLs(now: Date, all: Bool, after: String?, limit: Int) throws(CacheError) -> [String] {
        try read { db in
            let due = all ? "" : "AND (\(Self.dueCondition))"
            let arguments: StatementArguments = all ? [after ?? "", limit] : [after ?? "", now, limit]
            return try String.fetchAll(db, sql: """
                SELECT DISTINCT r.url FROM seed_references r
                LEFT JOIN sources s ON s.url = r.url LEFT JOIN objects o ON o.digest = s.digest
                WHERE r.url > ? \(due) ORDER BY r.url LIMIT ?
                """, arguments: arguments)
        }
    }

    /// A referenced URL with work to do (in a query joining seed_references r, sources s, objects o).
    static let dueCondition = """
        s.url IS NULL OR s.status != 'ok' OR NOT s.is_cached OR s.last_error IS NOT NULL OR s.expires_at IS NULL
        OR s.expires_at <= ? OR o.digest IS NULL OR o.blurhash IS NULL
        """

    public func seedReferences(urls: [String], perURL: Int?) throws(CacheError) -> [SeedReference] {
        let cap = perURL ?? Int.max
        return try read { db in
            var references: [SeedReference] = []
            for chunk in urls.chunked(500) {
                let rows = try Row.fetchCursor(db, sql: """
                    SELECT \(Self.referenceColumns) FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY url ORDER BY seed_path, line) AS n
                                                          FROM seed_references WHERE url IN (\(databaseQuestionMarks(count: chunk.count)))) WHERE n <= ?
                    """, arguments: StatementArguments(chunk) + [cap])
                while let row = try rows.next() { references.append(Self.reference(row)) }
            }
            references += try SeedReference.declaringBeyond(references, perURL: cap) { url, column in
                try Row.fetchOne(db, sql: """
                    SELECT \(Self.referenceColumns) FROM seed_references WHERE url = ? AND \(column) IS NOT NULL
                    ORDER BY seed_path, line LIMIT 1
                    """, arguments: [url]).map(Self.reference)
            }
            return references.sorted(by: SeedReference.inSeedOrder)
        }
    }

    static let referenceColumns = "seed_path, url, line, width, height, declared_cached, in_body, focus_x, focus_y"

    static func reference(_ row: Row) -> SeedReference {
        SeedReference(seedPath: row["seed_path"], url: row["url"], line: row["line"] ?? 0, width: row["width"], height: row["height"],
                      declaredCached: row["declared_cached"], inBody: row["in_body"], focusX: row["focus_x"], focusY: row["focus_y"])
    }

    public func sources(urls: [String]) throws(CacheError) -> [String: SourceRecord] {
        try read { db in
            var sources: [String: SourceRecord] = [:]
            for chunk in urls.chunked(500) {
                for source in try SourceRecord.filter(keys: chunk).fetchAll(db) { sources[source.url] = source }
            }
            return sources
        }
    }

    public func seedPathsToWriteBack() throws(CacheError) -> [String] {
        try read { db in
            try String.fetchAll(db, sql: """
                SELECT DISTINCT r.seed_path FROM seed_references r LEFT JOIN sources s ON s.url = r.url
                WHERE NOT r.in_body AND (r.declared_cached IS NULL OR r.declared_cached != COALESCE(s.is_cached, 0))
                ORDER BY r.seed_path
                """)
        }
    }

    public func referencedURLCount() throws(CacheError) -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT COUNT(DISTINCT url) FROM seed_references") ?? 0 }
    }

    public func syncedRenditions() throws(CacheError) -> String? {
        try read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [MetaKey.syncedRenditions]) }
    }

    /// Times and fingerprints are no content: readers need not rebuild (the generation stays).
    public func recordSyncFinished(at date: Date, renditions: String) throws(CacheError) {
        try write(bumpingGeneration: false) { db in
            try Self.setMeta(db, MetaKey.lastSync, date)
            try Self.setMeta(db, MetaKey.syncedRenditions, renditions)
        }
    }
}
