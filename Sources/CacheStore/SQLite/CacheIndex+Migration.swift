import Foundation
import GRDB

/// A bounded part of a local index for `imgcache migrate`: originals in digest order with their
/// thumbnails, their URLs and when each was last served.
public struct MigrationPage: Sendable {
    public var objects: [ObjectRecord] = []
    public var thumbnails: [String: [ThumbnailRecord]] = [:]
    public var sources: [String: [SourceRecord]] = [:]
    public var lastServed: [String: Date] = [:]
    public init() {}
}

/// What `migrate` reads from the local SQLite index, a page at a time in a key order (each
/// read a B-tree walk from where the last ended), so a million images migrate in the memory
/// of one page.
extension CacheIndex {
    /// Up to `limit` originals after `after` (nil: the first) with their rows; empty after the last.
    public func migrationPage(after: String?, limit: Int) throws(CacheError) -> MigrationPage {
        try read { db in
            var page = MigrationPage()
            page.objects = try ObjectRecord.fetchAll(db, sql: "SELECT * FROM objects WHERE digest > ? ORDER BY digest LIMIT ?",
                                                     arguments: [after ?? "", limit])
            let digests = page.objects.map(\.digest)
            guard !digests.isEmpty else { return page }
            let marks = databaseQuestionMarks(count: digests.count), arguments = StatementArguments(digests)
            page.thumbnails = Dictionary(grouping: try ThumbnailRecord.fetchAll(db, sql: Self.thumbnailsIn(digests.count), arguments: arguments),
                                         by: \.digest)
            let sources = try SourceRecord.fetchAll(db, sql: "SELECT * FROM sources WHERE digest IN (\(marks)) ORDER BY url", arguments: arguments)
            page.sources = Dictionary(grouping: sources) { $0.digest ?? "" }
            for row in try Row.fetchAll(db, sql: "SELECT digest, last_access FROM access WHERE digest IN (\(marks))", arguments: arguments) {
                page.lastServed[row["digest"]] = row["last_access"]
            }
            return page
        }
    }

    /// Up to `limit` URLs without an original (failed, or their image pruned) after `after`, in URL order.
    public func sourcesWithoutOriginal(after: String?, limit: Int) throws(CacheError) -> [SourceRecord] {
        try read { db in
            try SourceRecord.fetchAll(db, sql: "SELECT * FROM sources WHERE digest IS NULL AND url > ? ORDER BY url LIMIT ?",
                                      arguments: [after ?? "", limit])
        }
    }

    /// Up to `limit` seed references after (`after.path`, `after.url`), in that order (the primary key's).
    public func referencesPage(after: (path: String, url: String)?, limit: Int) throws(CacheError) -> [SeedReference] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT url, seed_path, line, in_body, focus_x, focus_y FROM seed_references
                WHERE (seed_path, url) > (?, ?) ORDER BY seed_path, url LIMIT ?
                """, arguments: [after?.path ?? "", after?.url ?? "", limit]).map { row in
                SeedReference(seedPath: row["seed_path"], url: row["url"], line: row["line"] ?? 0, inBody: row["in_body"],
                              focusX: row["focus_x"], focusY: row["focus_y"])
            }
        }
    }
}

extension CacheIndex {
    /// How many originals the index has (what `migrate` shows progress against).
    public func originalCount() throws(CacheError) -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM objects") ?? 0 }
    }
}
