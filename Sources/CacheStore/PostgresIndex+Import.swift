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
    /// Inserts `batch` in one transaction. `ensureFiles` runs first, under the removal lock
    /// (shared), and must store every blob the batch's rows name: a row is only recorded
    /// after its blob is in the store. Returns how many originals were new to the index.
    public func importBatch(_ batch: ImportBatch, ensureFiles: () throws -> Void) throws(CacheError) -> Int {
        try transaction { session in
            try Self.holdRemovalLockShared(session)
            try ensureFiles()
            var inserted = 0
            for object in batch.objects where try Self.insert(session, object) { inserted += 1 }
            for thumbnail in batch.thumbnails {
                try session.query("""
                    INSERT INTO thumbnails (\(unescaped: Self.thumbnailColumns)) VALUES (\(thumbnail.key), \(thumbnail.digest),
                        \(thumbnail.variant), \(thumbnail.width), \(thumbnail.height), \(thumbnail.format.rawValue),
                        \(thumbnail.bytes), \(thumbnail.createdAt), \(thumbnail.sha256))
                    ON CONFLICT (key) DO NOTHING
                    """)
            }
            for source in batch.sources where try Self.fetchSource(session, source.url) == nil {
                try Self.upsert(session, source)
            }
            for reference in batch.references {
                try session.query("""
                    INSERT INTO seed_references (seed_path, url, line) VALUES (\(reference.seedPath), \(reference.url), \(reference.line))
                    ON CONFLICT DO NOTHING
                    """)
            }
            let digests = Array(batch.access.keys), dates = digests.map { batch.access[$0]! }
            if !digests.isEmpty {
                try session.query("""
                    INSERT INTO access (digest, last_access) SELECT * FROM unnest(\(digests)::text[], \(dates)::timestamptz[])
                    ON CONFLICT (digest) DO UPDATE SET last_access = GREATEST(access.last_access, excluded.last_access)
                    """)
            }
            return inserted
        }
    }
}
