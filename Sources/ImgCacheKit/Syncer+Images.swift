import CacheStore
import Fetching
import Foundation
import GRDB
import ImageCodecs
import ImageCore
import SeedDocuments
import Synchronization

/// What the sync does with each image: ingest a body, complete a 304 or fresh entry, record a failure.
extension Syncer {
    /// A 200: verify, store the original by content, make every variant, record.
    func ingest(_ entry: CatalogEntry, response: FetchResponse) -> ImageSyncResult {
        let body = response.body
        let digest = BlobStore.digest(body)
        var mismatch: DimensionMismatch?
        var made = 0
        var cached = false
        do {
            // Decoding first means nothing that is not a valid image (an HTML error page served
            // with 200, a bomb, a truncated file) is ever stored as an original.
            let thumbnails = try makeVariants(of: body, entry: entry)
            let info = thumbnails[0].source
            mismatch = thumbnails[0].dimensionMismatch
            made = thumbnails.count
            let objectPath = store.objectPath(digest)
            if !store.exists(objectPath) {
                try store.write(body, to: objectPath)
                counters.withLock { $0.bytesStored += body.count }
            }
            let records = try writeVariantFiles(thumbnails, renditions: configuration.renditions, digest: digest)
            let placeholder = Self.placeholder(from: thumbnails)
            let duplicate: Bool
            (duplicate, cached) = try index.write { db -> (Bool, Bool) in
                // A prune may have removed these files since they were checked: under the removal
                // lock, put back whatever is gone before any row points at it.
                try removalLock.shared {
                    if !store.exists(objectPath) { try store.write(body, to: objectPath) }
                    try restoreMissing(thumbnails, records)
                }
                // Writers are serialised: of two URLs with the same bytes, exactly one inserts.
                let existed = try ObjectRecord.exists(db, key: digest)
                try ObjectRecord(digest: digest, bytes: body.count, format: info.format.rawValue,
                                 width: info.size.width, height: info.size.height,
                                 blurHash: placeholder?.blurHash, dominantColor: placeholder?.dominantColor,
                                 colorProfile: thumbnails[0].color.summary)
                    .insert(db, onConflict: .ignore)
                for record in records { try record.insert(db, onConflict: .replace) }
                var source = try SourceRecord.fetchOne(db, key: entry.url) ?? SourceRecord(url: entry.url)
                let sameURLAgain = source.digest == digest
                source.digest = digest
                source.etag = response.etag
                source.lastModified = response.lastModified
                source.fetchedAt = Date()
                source.expiresAt = Date().addingTimeInterval(max(response.freshnessLifetime() ?? 0, configuration.minTTL))
                source.declaredWidth = entry.width
                source.declaredHeight = entry.height
                source.decodedWidth = info.orientedSize.width
                source.decodedHeight = info.orientedSize.height
                source.status = "ok"
                source.lastError = nil
                source.isCached = isCached(digest: digest, thumbnails: records)
                source.updatedAt = Date()
                source.referencedAt = Date()
                try source.save(db)
                return (existed && !sameURLAgain, source.isCached)
            }
            if duplicate { counters.withLock { $0.duplicates += 1 } }
        } catch let error as CodecError {
            return fail(entry, reason: error.description, kind: error.code.description)
        } catch {
            return fail(entry, reason: "\(error)", kind: "cache")
        }
        return ImageSyncResult(url: entry.url, action: .fetched, isCached: cached, digest: digest, error: nil, errorKind: nil,
                               dimensionMismatch: mismatch?.description, thumbnailsMade: made)
    }

    /// A 304 or a fresh entry: keep the original, refresh validators, make any missing variant.
    func completeWithoutBody(_ entry: CatalogEntry, source: SourceRecord?, action: ImageSyncResult.Action,
                             response: FetchResponse?) -> ImageSyncResult {
        guard let source, let digest = source.digest else {
            return fail(entry, reason: "the origin answered 304 but no original is cached", kind: "cache")
        }
        var made = 0
        var mismatch: String?
        var cached = false
        do {
            let existing = try index.thumbnails(digest: digest)
            let missing = configuration.renditions.filter { rendition in
                !existing.contains { $0.key == rendition.thumbnailKey(digest: digest) && store.exists(store.thumbnailPath($0)) }
            }
            var records: [ThumbnailRecord] = []
            var thumbnails: [Thumbnail] = []
            var placeholder: Placeholder?
            let object = try index.read { db in try ObjectRecord.fetchOne(db, key: digest) }
            if !missing.isEmpty {
                let original = try store.read(store.objectPath(digest))
                thumbnails = try makeVariants(of: original, entry: entry, renditions: missing)
                records = try writeVariantFiles(thumbnails, renditions: missing, digest: digest)
                made = thumbnails.count
                mismatch = thumbnails.first?.dimensionMismatch?.description
                placeholder = Self.placeholder(from: thumbnails)
            }
            if object?.blurHash == nil && placeholder == nil {
                // Cached before placeholders existed: compute from the smallest stored thumbnail.
                placeholder = try existing.min { $0.width * $0.height < $1.width * $1.height }.flatMap { record in
                    let data = try store.read(store.thumbnailPath(record))
                    return Placeholder.compute(from: try ImageDecoder.decode(data).bitmap)
                }
            }
            cached = isCached(digest: digest, thumbnails: existing + records)
            let changed = response != nil || !records.isEmpty || placeholder != nil || source.status != "ok" || source.lastError != nil
                || source.declaredWidth != entry.width || source.declaredHeight != entry.height || source.isCached != cached
            // A fresh image with nothing new costs no write (and no fsync): second syncs stay cheap.
            if changed {
                try index.write { db in
                    if !records.isEmpty {
                        // Under the removal lock: the original must still be here (else a prune
                        // took it: this URL is fetched again next time), new thumbnails too.
                        try removalLock.shared {
                            guard try ObjectRecord.exists(db, key: digest), store.exists(store.objectPath(digest)) else {
                                throw CacheError(.io, "the original was pruned during this sync; the next sync fetches it again")
                            }
                            try restoreMissing(thumbnails, records)
                        }
                    }
                    for record in records { try record.insert(db, onConflict: .replace) }
                    if let placeholder {
                        try db.execute(sql: "UPDATE objects SET blurhash = ?, dominant_color = ? WHERE digest = ?",
                                       arguments: [placeholder.blurHash, placeholder.dominantColor, digest])
                    }
                    // Cached before colour profiles were recorded: the decode just made says which it had.
                    if let color = thumbnails.first?.color.summary, object?.colorProfile == nil {
                        try db.execute(sql: "UPDATE objects SET color_profile = ? WHERE digest = ?", arguments: [color, digest])
                    }
                    guard var updated = try SourceRecord.fetchOne(db, key: entry.url) else { return }
                    if let response {
                        updated.etag = response.etag ?? updated.etag
                        updated.lastModified = response.lastModified ?? updated.lastModified
                        updated.fetchedAt = Date()
                        updated.expiresAt = Date().addingTimeInterval(max(response.freshnessLifetime() ?? 0, configuration.minTTL))
                    }
                    updated.declaredWidth = entry.width
                    updated.declaredHeight = entry.height
                    updated.status = "ok"
                    updated.lastError = nil
                    updated.isCached = cached
                    updated.updatedAt = Date()
                    updated.referencedAt = Date()
                    try updated.save(db)
                }
            }
        } catch let error as CodecError {
            return fail(entry, reason: error.description, kind: error.code.description)
        } catch {
            return fail(entry, reason: "\(error)", kind: "cache")
        }
        if mismatch == nil, let w = entry.width, let h = entry.height, let dw = source.decodedWidth, let dh = source.decodedHeight,
           (w, h) != (dw, dh) {
            mismatch = DimensionMismatch(declared: Size(width: w, height: h), actual: Size(width: dw, height: dh)).description
        }
        return ImageSyncResult(url: entry.url, action: action, isCached: cached, digest: digest, error: nil, errorKind: nil,
                               dimensionMismatch: mismatch, thumbnailsMade: made)
    }

    /// Records a failure. A copy cached earlier stays and keeps serving. A URL that had nothing
    /// cached when the run started is recorded in a batch with others (100,000 failing URLs are
    /// a few hundred transactions, not 100,000).
    func fail(_ entry: CatalogEntry, reason: String, kind: String) -> ImageSyncResult {
        if priorDigests.withLock({ $0[entry.url] }) == nil {
            failures.add(SourceFailure(url: entry.url, reason: reason, declaredWidth: entry.width, declaredHeight: entry.height),
                         index: index)
            return ImageSyncResult(url: entry.url, action: .failed, isCached: false, digest: nil, error: reason,
                                   errorKind: kind, dimensionMismatch: nil, thumbnailsMade: 0)
        }
        let outcome = try? index.write { db -> (Bool, String?) in
            var source = try SourceRecord.fetchOne(db, key: entry.url) ?? SourceRecord(url: entry.url)
            let thumbnails = try source.digest.map { try ThumbnailRecord.filter(Column("digest") == $0).fetchAll(db) } ?? []
            source.isCached = source.digest.map { isCached(digest: $0, thumbnails: thumbnails) } ?? false
            source.status = "failed"
            source.lastError = reason
            source.declaredWidth = entry.width
            source.declaredHeight = entry.height
            source.updatedAt = Date()
            source.referencedAt = Date()
            try source.save(db)
            return (source.isCached, source.digest)
        }
        return ImageSyncResult(url: entry.url, action: .failed, isCached: outcome?.0 ?? false, digest: outcome?.1, error: reason,
                               errorKind: kind, dimensionMismatch: nil, thumbnailsMade: 0)
    }

    // MARK: - Helpers

    /// The placeholder, from the smallest variant.
    static func placeholder(from thumbnails: [Thumbnail]) -> Placeholder? {
        thumbnails.min { $0.size.pixelCount < $1.size.pixelCount }.map { Placeholder.compute(from: $0.bitmap) }
    }

    /// Decodes once and makes `renditions` (every configured one by default; nothing is written yet).
    private func makeVariants(of data: Data, entry: CatalogEntry, renditions: [Rendition]? = nil) throws(CodecError) -> [Thumbnail] {
        let declared = entry.width.flatMap { w in entry.height.map { Size(width: w, height: $0) } }
        return try Thumbnailer.makeThumbnails(from: data, declaredSize: declared,
                                              variants: (renditions ?? configuration.renditions).map { configuration.options(for: $0) })
    }

    /// Writes the thumbnail files (temp, fsync, rename), then returns their index rows. Rows are
    /// inserted by the caller after the files exist, so no row ever points at a missing file.
    private func writeVariantFiles(_ thumbnails: [Thumbnail], renditions: [Rendition], digest: String) throws(CacheError) -> [ThumbnailRecord] {
        var records: [ThumbnailRecord] = []
        var stored = 0
        for (rendition, thumbnail) in zip(renditions, thumbnails) {
            let key = rendition.thumbnailKey(digest: digest)
            let path = store.thumbnailPath(key, fileExtension: thumbnail.format.fileExtension)
            let hash = BlobStore.digest(thumbnail.data)
            // A file already under this key is kept only if it holds exactly these bytes.
            if !store.exists(path) || BlobStore.digest(ofFile: path)?.digest != hash {
                try store.write(thumbnail.data, to: path)
                stored += thumbnail.data.count
            }
            records.append(ThumbnailRecord(key: key, digest: digest, variant: rendition.variant, width: thumbnail.size.width,
                                           height: thumbnail.size.height, format: thumbnail.format.rawValue,
                                           bytes: thumbnail.data.count, sha256: hash))
        }
        counters.withLock { $0.bytesStored += stored }
        return records
    }

    /// Writes again any thumbnail file of `records` that is not on disk (called under the removal lock).
    private func restoreMissing(_ thumbnails: [Thumbnail], _ records: [ThumbnailRecord]) throws(CacheError) {
        for (thumbnail, record) in zip(thumbnails, records) where !store.exists(store.thumbnailPath(record)) {
            try store.write(thumbnail.data, to: store.thumbnailPath(record))
        }
    }

    /// True exactly when the URL's original and every configured format of every configured variant are in the cache.
    public func isCached(url: String) throws(CacheError) -> Bool {
        guard let digest = try index.source(url)?.digest else { return false }
        return isCached(digest: digest, thumbnails: try index.thumbnails(digest: digest))
    }

    /// True when the original `digest` and, among `thumbnails` (its index rows), every configured
    /// rendition (each format of each variant) are on disk.
    func isCached(digest: String, thumbnails: [ThumbnailRecord]) -> Bool {
        guard store.exists(store.objectPath(digest)) else { return false }
        return configuration.renditions.allSatisfy { rendition in
            let key = rendition.thumbnailKey(digest: digest)
            return thumbnails.contains { $0.key == key && store.exists(store.thumbnailPath($0)) }
        }
    }
}

/// Failures of URLs with nothing cached, recorded a batch at a time.
final class FailureBatch: Sendable {
    private let pending = Mutex<[SourceFailure]>([])
    private let problems = Mutex<[String]>([])
    static let size = 500

    func add(_ failure: SourceFailure, index: CacheIndex) {
        let full = pending.withLock { pending -> [SourceFailure]? in
            pending.append(failure)
            guard pending.count >= Self.size else { return nil }
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        if let full { record(full, index: index) }
    }

    /// Records what is still pending; returns every batch that could not be recorded, as problems.
    func flush(into index: CacheIndex) -> [String] {
        let rest = pending.withLock { pending in
            defer { pending.removeAll() }
            return pending
        }
        if !rest.isEmpty { record(rest, index: index) }
        return problems.withLock { problems in
            defer { problems.removeAll() }
            return problems
        }
    }

    private func record(_ batch: [SourceFailure], index: CacheIndex) {
        do {
            try index.recordFailures(batch)
        } catch {
            problems.withLock { $0.append("cannot record \(batch.count) failures in the index: \(error)") }
        }
    }
}
