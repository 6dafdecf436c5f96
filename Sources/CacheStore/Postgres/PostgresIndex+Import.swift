import Foundation
import PostgresNIO

/// What `imgcache migrate` copies into a shared index: rows as they are, never replacing one
/// the database has already (so a migration that stopped can be run again).
public struct ImportBatch: Sendable {
    public var objects: [ObjectRecord] = []
    public var thumbnails: [ThumbnailRecord] = []
    public var sources: [SourceRecord] = []
    public var references: [SeedReference] = []
    /// When each original was last served.
    public var access: [String: Date] = [:]
    public init() {}
}

extension PostgresIndex {
    /// Inserts `batch` in one transaction, a statement per table (the rows bound as one JSON
    /// array). `ensureFiles` runs first, under the removal lock (shared), and must store every
    /// blob the batch's rows name: a row is only recorded after its blob is in the store.
    /// Returns how many originals were new to the index.
    public func importBatch(_ batch: ImportBatch, ensureFiles: () throws -> Void) throws(CacheError) -> Int {
        try transaction { session in
            try Self.holdRemovalLockShared(session)
            try ensureFiles()
            let inserted = try Self.insertRows(session, table: "objects", batch.objects, returning: "digest")
            try Self.insertRows(session, table: "thumbnails", batch.thumbnails)
            try Self.insertRows(session, table: "sources", batch.sources)
            try Self.insertRows(session, table: "seed_references", batch.references.map {
                ReferenceRow(seed_path: $0.seedPath, url: $0.url, line: $0.line, in_body: $0.inBody, focus_x: $0.focusX, focus_y: $0.focusY)
            })
            try Self.insertRows(session, table: "access", batch.access.map { AccessRow(digest: $0.key, last_access: $0.value) },
                                conflict: "(digest) DO UPDATE SET last_access = GREATEST(access.last_access, excluded.last_access)")
            return inserted
        }
    }

    /// Inserts `rows` (their coding keys are the table's columns) with one statement; a row
    /// whose key is there already is kept as it is. Returns how many were inserted.
    @discardableResult
    static func insertRows<Row: Encodable>(_ session: PostgresSession, table: String, _ rows: [Row],
                                           conflict: String = "DO NOTHING", returning: String? = nil) throws -> Int {
        guard !rows.isEmpty else { return 0 }
        var binds = PostgresBindings()
        binds.append(String(decoding: try jsonEncoder.encode(rows), as: UTF8.self))
        let sql = "INSERT INTO \(table) SELECT * FROM jsonb_populate_recordset(NULL::\(table), $1::jsonb) ON CONFLICT \(conflict)"
            + (returning.map { " RETURNING \($0)" } ?? "")
        return try session.query(PostgresQuery(unsafeSQL: sql, binds: binds)).count
    }

    /// Dates as ISO 8601 in UTC with milliseconds, which timestamptz reads.
    static var jsonEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        }
        return encoder
    }
}

private struct ReferenceRow: Encodable {
    var seed_path: String
    var url: String
    var line: Int
    var in_body: Bool
    var focus_x: Double?
    var focus_y: Double?
}

private struct AccessRow: Encodable {
    var digest: String
    var last_access: Date
}
