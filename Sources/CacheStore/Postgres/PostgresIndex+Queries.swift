import Foundation
import PostgresNIO
import Synchronization

/// Reads, as `CacheIndex+Queries` does them in SQLite.
extension PostgresIndex {
    public func source(_ url: String) throws(CacheError) -> SourceRecord? {
        try read { session in try Self.fetchSource(session, url) }
    }

    public func object(_ digest: String) throws(CacheError) -> ObjectRecord? {
        try read { session in
            try session.query("SELECT \(unescaped: Self.objectColumns) FROM objects WHERE digest = \(digest)").first.map(Self.object)
        }
    }

    public func thumbnail(key: String) throws(CacheError) -> ThumbnailRecord? {
        try read { session in
            try session.query("SELECT \(unescaped: Self.thumbnailColumns) FROM thumbnails WHERE key = \(key)").first.map(Self.thumbnail)
        }
    }

    public func thumbnails(digest: String) throws(CacheError) -> [ThumbnailRecord] {
        try read { session in try Self.fetchThumbnails(session, digest: digest) }
    }

    public func thumbnails(url: String, keys: (String) -> [String]) throws(CacheError) -> [ThumbnailRecord] {
        try read { session in
            guard let digest = try Self.fetchSource(session, url)?.digest else { return [] }
            let wanted = keys(digest)
            let rows = try session.query("""
                SELECT \(unescaped: Self.thumbnailColumns) FROM thumbnails WHERE key = ANY(\(wanted)::text[])
                """).map(Self.thumbnail)
            let byKey = Dictionary(rows.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
            return wanted.compactMap { byKey[$0] }
        }
    }

    public func allSources() throws(CacheError) -> [String: SourceRecord] {
        try read { session in
            Dictionary(try Self.all(session, "SELECT \(Self.sourceColumns) FROM sources", Self.source).map { ($0.url, $0) },
                       uniquingKeysWith: { a, _ in a })
        }
    }

    public func allThumbnails() throws(CacheError) -> [ThumbnailRecord] {
        try read { session in try Self.all(session, "SELECT \(Self.thumbnailColumns) FROM thumbnails", Self.thumbnail) }
    }

    public func storedFiles() throws(CacheError) -> (objects: [(digest: String, bytes: Int)], thumbnails: [ThumbnailRecord]) {
        try read { session in
            (try Self.all(session, "SELECT digest, bytes FROM objects") { row in
                let (digest, bytes) = try row.decode((String, Int).self)
                return (digest: digest, bytes: bytes)
            }, try Self.all(session, "SELECT \(Self.thumbnailColumns) FROM thumbnails", Self.thumbnail))
        }
    }

    public func contents() throws(CacheError) -> IndexContents {
        try read { session in
            var references: [String: [SeedReference]] = [:]
            for reference in try Self.all(session, "SELECT url, seed_path, line, in_body, focus_x, focus_y FROM seed_references ORDER BY seed_path COLLATE \"C\", line", {
                let (url, path, line, inBody, focusX, focusY) = try $0.decode((String, String, Int?, Bool, Double?, Double?).self)
                return SeedReference(seedPath: path, url: url, line: line ?? 0, inBody: inBody, focusX: focusX, focusY: focusY)
            }) {
                references[reference.url, default: []].append(reference)
            }
            let objects = try Self.all(session, "SELECT \(Self.objectColumns) FROM objects", Self.object)
            return IndexContents(
                sources: try Self.all(session, "SELECT \(Self.sourceColumns) FROM sources ORDER BY url COLLATE \"C\"", Self.source),
                objects: Dictionary(objects.map { ($0.digest, $0) }, uniquingKeysWith: { a, _ in a }),
                thumbnails: Dictionary(grouping: try Self.all(session, "SELECT \(Self.thumbnailColumns) FROM thumbnails",
                                                              Self.thumbnail), by: \.digest),
                references: references)
        }
    }

    public func statistics(largest limit: Int) throws(CacheError) -> IndexStatistics {
        try read { session in
            var stats = IndexStatistics()
            for row in try session.query("SELECT status, COUNT(*), COUNT(*) FILTER (WHERE is_cached) FROM sources GROUP BY status") {
                let (status, count, cached) = try row.decode((String, Int, Int).self)
                stats.urls += count
                stats.urlsCached += cached
                if let status = SourceStatus(rawValue: status) { stats.urlsByStatus[status] = count }
            }
            (stats.originals, stats.originalBytes) = try Self.countAndBytes(session, table: "objects")
            stats.thumbnailsByVariant = try Self.groups(session, column: "variant")
            stats.thumbnailsByFormat = try Self.groups(session, column: "format")
            stats.originalsConverted = try session.scalar(
                "SELECT COUNT(*) FROM objects WHERE color_profile LIKE '%(converted to sRGB)'", as: Int.self) ?? 0
            stats.hits = try Self.metaNumber(session, MetaKey.servedHits) ?? 0
            stats.misses = try Self.metaNumber(session, MetaKey.servedMisses) ?? 0
            stats.lastSync = try Self.metaDate(session, MetaKey.lastSync)
            stats.lastPrune = try Self.metaDate(session, MetaKey.lastPrune)
            stats.lastPruneBytes = try Self.metaNumber(session, MetaKey.lastPruneBytes)
            stats.largest = try session.query("""
                SELECT o.digest, (SELECT MIN(url COLLATE "C") FROM sources s WHERE s.digest = o.digest), o.width, o.height, o.bytes,
                       o.bytes + COALESCE((SELECT SUM(bytes) FROM thumbnails t WHERE t.digest = o.digest), 0)::int8
                FROM objects o ORDER BY o.bytes DESC, o.digest COLLATE "C" LIMIT \(limit)
                """).map { row in
                let (digest, url, width, height, original, total) = try row.decode((String, String?, Int, Int, Int, Int).self)
                return IndexStatistics.LargeImage(digest: digest, url: url, width: width, height: height,
                                                  originalBytes: original, totalBytes: total)
            }
            return stats
        }
    }

    public func totals() throws(CacheError) -> IndexTotals {
        try read { session in
            var totals = IndexTotals()
            (totals.objects, totals.objectBytes) = try Self.countAndBytes(session, table: "objects")
            (totals.thumbnails, totals.thumbnailBytes) = try Self.countAndBytes(session, table: "thumbnails")
            totals.lastSync = try Self.metaDate(session, MetaKey.lastSync)
                ?? session.scalar("SELECT MAX(updated_at) FROM sources", as: Date.self)
            totals.lastPrune = try Self.metaDate(session, MetaKey.lastPrune)
            return totals
        }
    }

    public func lastPrune() throws(CacheError) -> Date? {
        try read { session in try Self.metaDate(session, MetaKey.lastPrune) }
    }

    /// Reads a row of each table: throws when the database cannot answer (within 3 s: /healthz
    /// must answer a load balancer quickly).
    public func checkReadable() throws(CacheError) {
        try read(timeout: 3) { session in
            _ = try session.query("SELECT (SELECT COUNT(*) FROM sources) + (SELECT COUNT(*) FROM objects) + (SELECT COUNT(*) FROM thumbnails)")
        }
    }

    /// PostgreSQL checks its own pages; what is reported here is that it cannot be reached.
    public func integrityProblems(limit: Int) -> [String] {
        do {
            try checkReadable()
            return []
        } catch {
            return [error.message]
        }
    }

    public func refreshPlannerStatistics() {
        _ = try? pool.withSession(timeout: 60) { session in
            try session.query("ANALYZE objects, thumbnails, sources, access, seed_references")
        }
    }

    /// The bytes of the index's tables and their indexes in the database.
    public var storageBytes: Int {
        let bytes = try? read { session in
            try session.scalar("""
                SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::int8 FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = current_schema() AND c.relkind = 'r'
                  AND c.relname IN ('objects', 'sources', 'thumbnails', 'seed_references', 'access', 'meta', 'schema_migrations')
                """, as: Int.self)
        }
        return (bytes ?? nil) ?? 0
    }

    static func countAndBytes(_ session: PostgresSession, table: String) throws -> (Int, Int) {
        let row = try session.query(PostgresQuery(unsafeSQL: "SELECT COUNT(*), COALESCE(SUM(bytes), 0)::int8 FROM \(table)")).first
        return try row?.decode((Int, Int).self) ?? (0, 0)
    }

    static func groups(_ session: PostgresSession, column: String) throws -> [IndexStatistics.Group] {
        try session.query(PostgresQuery(unsafeSQL: """
            SELECT \(column), COUNT(*), SUM(bytes)::int8 FROM thumbnails GROUP BY \(column) ORDER BY \(column) COLLATE "C"
            """)).map { row in
            let (name, count, bytes) = try row.decode((String, Int, Int).self)
            return IndexStatistics.Group(name: name, count: count, bytes: bytes)
        }
    }

    /// Every row of `sql`, decoded as it streams in.
    static func all<T: Sendable>(_ session: PostgresSession, _ sql: String,
                                 _ decode: @escaping @Sendable (PostgresRow) throws -> T) throws -> [T] {
        let rows = RowBuffer<T>()
        try session.forEach(PostgresQuery(unsafeSQL: sql)) { row in
            let value = try decode(row)
            rows.values.withLock { $0.append(value) }
        }
        return rows.values.withLock { $0 }
    }
}

final class RowBuffer<T: Sendable>: Sendable {
    let values = Mutex<[T]>([])
}
