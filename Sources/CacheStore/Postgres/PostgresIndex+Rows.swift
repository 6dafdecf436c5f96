import Foundation
import PostgresNIO

/// Rows to records and back: the column lists every query of the PostgreSQL index uses.
extension PostgresIndex {
    static let sourceColumns = """
        url, digest, etag, last_modified, fetched_at, expires_at, declared_width, declared_height, decoded_width, \
        decoded_height, status, last_error, failure_kind, is_cached, updated_at, referenced_at
        """
    static let objectColumns = "digest, bytes, format, width, height, created_at, blurhash, dominant_color, color_profile, frames, duration_ms"
    static let thumbnailColumns = "key, digest, variant, width, height, format, bytes, created_at, sha256"

    static func source(_ row: PostgresRow) throws -> SourceRecord {
        let (url, digest, etag, lastModified, fetchedAt, expiresAt, declaredWidth, declaredHeight, decodedWidth,
             decodedHeight, status, lastError, failureKind, isCached, updatedAt, referencedAt) = try row.decode(
            (String, String?, String?, String?, Date?, Date?, Int?, Int?, Int?, Int?, String, String?, String?, Bool, Date, Date?).self)
        var record = SourceRecord(url: url, status: SourceStatus(rawValue: status) ?? .pending, updatedAt: updatedAt)
        record.digest = digest
        record.etag = etag
        record.lastModified = lastModified
        record.fetchedAt = fetchedAt
        record.expiresAt = expiresAt
        record.declaredWidth = declaredWidth
        record.declaredHeight = declaredHeight
        record.decodedWidth = decodedWidth
        record.decodedHeight = decodedHeight
        record.lastError = lastError
        record.failureKind = failureKind.map(FailureKind.init(named:))
        record.isCached = isCached
        record.referencedAt = referencedAt
        return record
    }

    static func object(_ row: PostgresRow) throws -> ObjectRecord {
        let (digest, bytes, format, width, height, createdAt, blurHash, dominantColor, colorProfile, frames, duration) = try row.decode(
            (String, Int, String, Int, Int, Date, String?, String?, String?, Int?, Int?).self)
        return ObjectRecord(digest: digest, bytes: bytes, format: StoredFormat(rawValue: format) ?? .jpeg, width: width,
                            height: height, createdAt: createdAt, blurHash: blurHash, dominantColor: dominantColor,
                            colorProfile: colorProfile, frames: frames, durationMilliseconds: duration)
    }

    static func thumbnail(_ row: PostgresRow) throws -> ThumbnailRecord {
        let (key, digest, variant, width, height, format, bytes, createdAt, sha256) = try row.decode(
            (String, String, String, Int, Int, String, Int, Date, String?).self)
        return ThumbnailRecord(key: key, digest: digest, variant: variant, width: width, height: height,
                               format: StoredFormat(rawValue: format) ?? .jpeg, bytes: bytes, createdAt: createdAt, sha256: sha256)
    }

    /// Inserts `record`, or replaces the row with its key.
    static func upsert(_ session: PostgresSession, _ record: SourceRecord) throws {
        try session.query("""
            INSERT INTO sources (\(unescaped: sourceColumns)) VALUES (\(record.url), \(record.digest), \(record.etag),
                \(record.lastModified), \(record.fetchedAt), \(record.expiresAt), \(record.declaredWidth),
                \(record.declaredHeight), \(record.decodedWidth), \(record.decodedHeight), \(record.status.rawValue),
                \(record.lastError), \(record.failureKind?.rawValue), \(record.isCached), \(record.updatedAt), \(record.referencedAt))
            ON CONFLICT (url) DO UPDATE SET digest = excluded.digest, etag = excluded.etag,
                last_modified = excluded.last_modified, fetched_at = excluded.fetched_at, expires_at = excluded.expires_at,
                declared_width = excluded.declared_width, declared_height = excluded.declared_height,
                decoded_width = excluded.decoded_width, decoded_height = excluded.decoded_height, status = excluded.status,
                last_error = excluded.last_error, failure_kind = excluded.failure_kind, is_cached = excluded.is_cached, updated_at = excluded.updated_at,
                referenced_at = excluded.referenced_at
            """)
    }

    /// Inserts `record` unless its digest is indexed; true when this call inserted it.
    static func insert(_ session: PostgresSession, _ record: ObjectRecord) throws -> Bool {
        try !session.query("""
            INSERT INTO objects (\(unescaped: objectColumns)) VALUES (\(record.digest), \(record.bytes), \(record.format.rawValue),
                \(record.width), \(record.height), \(record.createdAt), \(record.blurHash), \(record.dominantColor),
                \(record.colorProfile), \(record.frames), \(record.durationMilliseconds))
            ON CONFLICT (digest) DO NOTHING RETURNING digest
            """).isEmpty
    }

    static func upsert(_ session: PostgresSession, _ record: ThumbnailRecord) throws {
        try session.query("""
            INSERT INTO thumbnails (\(unescaped: thumbnailColumns)) VALUES (\(record.key), \(record.digest), \(record.variant),
                \(record.width), \(record.height), \(record.format.rawValue), \(record.bytes), \(record.createdAt), \(record.sha256))
            ON CONFLICT (key) DO UPDATE SET digest = excluded.digest, variant = excluded.variant, width = excluded.width,
                height = excluded.height, format = excluded.format, bytes = excluded.bytes, created_at = excluded.created_at,
                sha256 = excluded.sha256
            """)
    }

    static func fetchSource(_ session: PostgresSession, _ url: String, forUpdate: Bool = false) throws -> SourceRecord? {
        try session.query("SELECT \(unescaped: sourceColumns) FROM sources WHERE url = \(url)\(unescaped: forUpdate ? " FOR UPDATE" : "")")
            .first.map(source)
    }

    static func fetchThumbnails(_ session: PostgresSession, digest: String) throws -> [ThumbnailRecord] {
        try session.query("SELECT \(unescaped: thumbnailColumns) FROM thumbnails WHERE digest = \(digest) ORDER BY key").map(thumbnail)
    }

    static func exists(_ session: PostgresSession, table: String, key: String, value: String) throws -> Bool {
        var binds = PostgresBindings()
        binds.append(value)
        return try !session.query(PostgresQuery(unsafeSQL: "SELECT 1 FROM \(table) WHERE \(key) = $1", binds: binds)).isEmpty
    }

    static func setMeta(_ session: PostgresSession, _ key: String, number: Int? = nil, at date: Date? = nil) throws {
        try session.query("""
            INSERT INTO meta (key, number, at) VALUES (\(key), \(number), \(date))
            ON CONFLICT (key) DO UPDATE SET number = excluded.number, at = excluded.at
            """)
    }

    static func addToCounter(_ session: PostgresSession, _ key: String, _ amount: Int) throws {
        try session.query("""
            INSERT INTO meta (key, number) VALUES (\(key), \(amount))
            ON CONFLICT (key) DO UPDATE SET number = COALESCE(meta.number, 0) + excluded.number
            """)
    }

    static func metaDate(_ session: PostgresSession, _ key: String) throws -> Date? {
        try session.scalar("SELECT at FROM meta WHERE key = \(key)", as: Date.self)
    }

    static func metaNumber(_ session: PostgresSession, _ key: String) throws -> Int? {
        try session.scalar("SELECT number FROM meta WHERE key = \(key)", as: Int.self)
    }
}
