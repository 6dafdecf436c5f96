import Foundation
import PostgresNIO

/// What a sync writes, as `CacheIndex+Sync` does it in SQLite: one method per transaction.
extension PostgresIndex {
    public func recordFetched(_ image: FetchedImage, ensureFiles: () throws -> Void,
                              isCached: () -> Bool) throws(CacheError) -> (duplicate: Bool, isCached: Bool) {
        try transaction { session in
            try Self.holdRemovalLockShared(session)
            try ensureFiles()
            // Of two URLs with the same bytes exactly one inserts (the other waits for its commit).
            let inserted = try Self.insert(session, image.object)
            for record in image.thumbnails { try Self.upsert(session, record) }
            var source = try Self.fetchSource(session, image.url, forUpdate: true) ?? SourceRecord(url: image.url)
            let sameURLAgain = source.digest == image.object.digest
            source.record(image, isCached: isCached())
            try Self.upsert(session, source)
            return (!inserted && !sameURLAgain, source.isCached)
        }
    }

    public func recordRevalidated(_ update: Revalidation, ensureFiles: () throws -> Void) throws(CacheError) {
        try transaction { session in
            if !update.newThumbnails.isEmpty {
                try Self.holdRemovalLockShared(session)
                guard try Self.exists(session, table: "objects", key: "digest", value: update.digest) else {
                    throw CacheError(.io, "the original was pruned during this sync; the next sync fetches it again")
                }
                try ensureFiles()
            }
            for record in update.newThumbnails { try Self.upsert(session, record) }
            if let placeholder = update.placeholder {
                try session.query("""
                    UPDATE objects SET blurhash = \(placeholder.blurHash), dominant_color = \(placeholder.dominantColor)
                    WHERE digest = \(update.digest)
                    """)
            }
            if let profile = update.colorProfile {
                try session.query("UPDATE objects SET color_profile = \(profile) WHERE digest = \(update.digest) AND color_profile IS NULL")
            }
            guard var source = try Self.fetchSource(session, update.url, forUpdate: true) else { return }
            source.record(update)
            try Self.upsert(session, source)
        }
    }

    public func recordFailure(_ failure: SourceFailure, at date: Date,
                              isCached: (String, [ThumbnailRecord]) -> Bool) throws(CacheError) -> (isCached: Bool, digest: String?) {
        try transaction { session in
            var source = try Self.fetchSource(session, failure.url, forUpdate: true) ?? SourceRecord(url: failure.url)
            let thumbnails = try source.digest.map { try Self.fetchThumbnails(session, digest: $0) } ?? []
            source.record(failure, at: date, isCached: source.digest.map { isCached($0, thumbnails) } ?? false)
            try Self.upsert(session, source)
            return (source.isCached, source.digest)
        }
    }

    public func recordFailures(_ failures: [SourceFailure], at date: Date) throws(CacheError) {
        guard !failures.isEmpty else { return }
        // Last failure of a URL named twice wins, as row-by-row upserts would have it.
        var byURL: [String: SourceFailure] = [:]
        for failure in failures { byURL[failure.url] = failure }
        let rows = byURL.values.sorted { $0.url < $1.url }
        // No NULLs inside bound arrays: -1 stands for "not declared".
        let urls = rows.map(\.url), reasons = rows.map(\.reason), kinds = rows.map(\.kind.rawValue)
        let widths = rows.map { $0.declaredWidth ?? -1 }, heights = rows.map { $0.declaredHeight ?? -1 }
        try transaction { session in
            _ = try session.query("""
                INSERT INTO sources (url, status, last_error, failure_kind, declared_width, declared_height, is_cached, updated_at,
                                     referenced_at)
                SELECT u, 'failed', r, k, NULLIF(w, -1), NULLIF(h, -1), FALSE, \(date), \(date)
                FROM unnest(\(urls)::text[], \(reasons)::text[], \(kinds)::text[], \(widths)::int8[], \(heights)::int8[]) AS f(u, r, k, w, h)
                ON CONFLICT (url) DO UPDATE SET status = 'failed', last_error = excluded.last_error, failure_kind = excluded.failure_kind,
                    declared_width = excluded.declared_width, declared_height = excluded.declared_height,
                    is_cached = CASE WHEN sources.digest IS NULL THEN FALSE ELSE sources.is_cached END,
                    updated_at = excluded.updated_at, referenced_at = excluded.referenced_at
                """)
        }
    }
}
