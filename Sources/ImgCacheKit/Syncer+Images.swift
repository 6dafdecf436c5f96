import CacheStore
import Fetching
import Foundation
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
            if !store.exists(.original(digest)) {
                try store.put(body, as: .original(digest))
                counters.withLock { $0.bytesStored += body.count }
            }
            let records = try writeVariantFiles(thumbnails, renditions: configuration.renditions, digest: digest)
            let placeholder = Self.placeholder(from: thumbnails)
            let image = FetchedImage(
                url: entry.url,
                object: ObjectRecord(digest: digest, bytes: body.count, format: info.format,
                                     width: info.size.width, height: info.size.height,
                                     blurHash: placeholder?.blurHash, dominantColor: placeholder?.dominantColor,
                                     colorProfile: thumbnails[0].color.summary,
                                     frames: info.frames > 1 ? info.frames : nil,
                                     durationMilliseconds: info.frames > 1 ? info.durationMilliseconds : nil),
                thumbnails: records, etag: response.etag, lastModified: response.lastModified,
                expiresAt: expiry(response), declaredWidth: entry.width, declaredHeight: entry.height,
                decodedWidth: info.orientedSize.width, decodedHeight: info.orientedSize.height)
            let duplicate: Bool
            // A prune may have removed these files since they were written: the index has them
            // put back (under its removal lock) before any row points at them.
            (duplicate, cached) = try index.recordFetched(image, ensureFiles: {
                if !store.exists(.original(digest)) { try store.put(body, as: .original(digest)) }
                try restoreMissing(thumbnails, records)
            }, isCached: { isCached(digest: digest, thumbnails: records) })
            if duplicate { counters.withLock { $0.duplicates += 1 } }
            halt.succeeded()
        } catch let error as CodecError {
            return fail(entry, reason: error.description, kind: FailureKind(named: error.code.description))
        } catch {
            halt.failed(error)
            if let reason = halt.reason { return stopped(entry, reason) }
            return fail(entry, reason: "\(error)", kind: Self.kind(of: error))
        }
        return ImageSyncResult(url: entry.url, action: .fetched, isCached: cached, digest: digest, error: nil, errorKind: nil,
                               dimensionMismatch: mismatch?.description, thumbnailsMade: made)
    }

    /// How long a response may be used without asking again: its own freshness, at least the configured minimum.
    private func expiry(_ response: FetchResponse) -> Date {
        Date().addingTimeInterval(max(response.freshnessLifetime() ?? 0, configuration.minTTL))
    }

    /// A 304 or a fresh entry: keep the original, refresh validators, make any missing variant.
    /// Nil when the original is gone (a prune running beside this sync took it): the caller
    /// fetches the image again in full.
    func completeWithoutBody(_ entry: CatalogEntry, source: SourceRecord?, action: ImageSyncResult.Action,
                             response: FetchResponse?) -> ImageSyncResult? {
        guard let source, let digest = source.digest else {
            return fail(entry, reason: "the origin answered 304 but no original is cached", kind: .pruned)
        }
        var made = 0
        var mismatch: String?
        var cached = false
        do {
            let existing = try index.thumbnails(digest: digest)
            let missing = configuration.renditions.filter { rendition in
                !existing.contains { $0.key == rendition.thumbnailKey(digest: digest) && store.exists($0.blobKey) }
            }
            var update = Revalidation(url: entry.url, digest: digest, declaredWidth: entry.width, declaredHeight: entry.height,
                                      isCached: false)
            var thumbnails: [Thumbnail] = []
            if !missing.isEmpty {
                thumbnails = try makeVariants(of: try store.get(.original(digest)), entry: entry, renditions: missing)
                update.newThumbnails = try writeVariantFiles(thumbnails, renditions: missing, digest: digest)
                made = thumbnails.count
                mismatch = thumbnails.first?.dimensionMismatch?.description
                // Cached before colour profiles were recorded: the decode just made says which it had.
                update.colorProfile = thumbnails.first?.color.summary
            }
            update.placeholder = try placeholder(digest: digest, made: thumbnails, existing: existing)
            cached = isCached(digest: digest, thumbnails: existing + update.newThumbnails)
            update.isCached = cached
            if let response { update.validators = (response.etag, response.lastModified, expiry(response)) }
            let changed = response != nil || made > 0 || update.placeholder != nil || source.status != .ok || source.lastError != nil
                || source.declaredWidth != entry.width || source.declaredHeight != entry.height || source.isCached != cached
            // A fresh image with nothing new costs no write (and no fsync): second syncs stay cheap.
            if changed {
                // The original must still be here (else a prune took it: this URL is fetched again next time).
                try index.recordRevalidated(update) {
                    guard store.exists(.original(digest)) else {
                        throw CacheError(.io, "the original was pruned during this sync; the next sync fetches it again")
                    }
                    try restoreMissing(thumbnails, update.newThumbnails)
                }
            }
        } catch let error as CodecError {
            return fail(entry, reason: error.description, kind: FailureKind(named: error.code.description))
        } catch {
            halt.failed(error)
            if let reason = halt.reason { return stopped(entry, reason) }
            if !store.exists(.original(digest)) { return nil }
            return fail(entry, reason: "\(error)", kind: Self.kind(of: error))
        }
        halt.succeeded()
        if mismatch == nil, let w = entry.width, let h = entry.height, let dw = source.decodedWidth, let dh = source.decodedHeight,
           (w, h) != (dw, dh) {
            mismatch = DimensionMismatch(declared: Size(width: w, height: h), actual: Size(width: dw, height: dh)).description
        }
        return ImageSyncResult(url: entry.url, action: action, isCached: cached, digest: digest, error: nil, errorKind: nil,
                               dimensionMismatch: mismatch, thumbnailsMade: made)
    }

    /// The placeholder to record for `digest`: from the thumbnails just made; else, for an image
    /// cached before placeholders existed, from its smallest stored thumbnail; else nil (it has one).
    private func placeholder(digest: String, made: [Thumbnail], existing: [ThumbnailRecord]) throws -> (blurHash: String, dominantColor: String)? {
        if let placeholder = Self.placeholder(from: made) { return (placeholder.blurHash, placeholder.dominantColor) }
        guard try index.object(digest)?.blurHash == nil,
              let smallest = existing.min(by: { $0.width * $0.height < $1.width * $1.height }) else { return nil }
        let placeholder = Placeholder.compute(from: try ImageDecoder.decode(try store.get(smallest.blobKey)).bitmap)
        return (placeholder.blurHash, placeholder.dominantColor)
    }

    /// The kind of an error that is not the decoder's: a cache error's (disk full, permission
    /// denied, the index, other i/o), else other.
    static func kind(of error: any Error) -> FailureKind {
        (error as? CacheError).map(FailureKind.init) ?? .other
    }

    /// An image the run did not finish because it stopped (`BackendHalt`): nothing is written
    /// for it, to backends that do not answer.
    func stopped(_ entry: CatalogEntry, _ reason: String) -> ImageSyncResult {
        ImageSyncResult(url: entry.url, action: .failed, isCached: false, digest: nil, error: "not synced: the sync stopped: \(reason)",
                        errorKind: .stopped, dimensionMismatch: nil, thumbnailsMade: 0)
    }

    /// Records a failure. A copy cached earlier stays and keeps serving. A URL that had nothing
    /// cached when the run started is recorded in a batch with others (100,000 failing URLs are
    /// a few hundred transactions, not 100,000).
    func fail(_ entry: CatalogEntry, reason: String, kind: FailureKind) -> ImageSyncResult {
        if priorDigests.withLock({ $0[entry.url] }) == nil {
            failures.add(SourceFailure(url: entry.url, reason: reason, kind: kind, declaredWidth: entry.width, declaredHeight: entry.height),
                         index: index)
            return ImageSyncResult(url: entry.url, action: .failed, isCached: false, digest: nil, error: reason,
                                   errorKind: kind, dimensionMismatch: nil, thumbnailsMade: 0)
        }
        let failure = SourceFailure(url: entry.url, reason: reason, kind: kind, declaredWidth: entry.width, declaredHeight: entry.height)
        let outcome = try? index.recordFailure(failure) { digest, thumbnails in isCached(digest: digest, thumbnails: thumbnails) }
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
            let hash = BlobStore.digest(thumbnail.data)
            let record = ThumbnailRecord(key: rendition.thumbnailKey(digest: digest), digest: digest, variant: rendition.variant,
                                         width: thumbnail.size.width, height: thumbnail.size.height,
                                         format: thumbnail.format, bytes: thumbnail.data.count, sha256: hash)
            // A file already under this key is kept only if it holds exactly these bytes.
            if !store.exists(record.blobKey) || store.hash(record.blobKey)?.digest != hash {
                try store.put(thumbnail.data, as: record.blobKey)
                stored += thumbnail.data.count
            }
            records.append(record)
        }
        counters.withLock { $0.bytesStored += stored }
        return records
    }

    /// Writes again any thumbnail file of `records` that is not on disk (called under the removal lock).
    private func restoreMissing(_ thumbnails: [Thumbnail], _ records: [ThumbnailRecord]) throws(CacheError) {
        for (thumbnail, record) in zip(thumbnails, records) where !store.exists(record.blobKey) {
            try store.put(thumbnail.data, as: record.blobKey)
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
        guard store.exists(.original(digest)) else { return false }
        return configuration.renditions.allSatisfy { rendition in
            let key = rendition.thumbnailKey(digest: digest)
            return thumbnails.contains { $0.key == key && store.exists($0.blobKey) }
        }
    }
}

/// Failures of URLs with nothing cached, recorded a batch at a time.
final class FailureBatch: Sendable {
    private let pending = Mutex<[SourceFailure]>([])
    private let problems = Mutex<[String]>([])
    static let size = 500

    func add(_ failure: SourceFailure, index: any IndexStorage) {
        let full = pending.withLock { pending -> [SourceFailure]? in
            pending.append(failure)
            guard pending.count >= Self.size else { return nil }
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        if let full { record(full, index: index) }
    }

    /// Records what is still pending; returns every batch that could not be recorded, as problems.
    func flush(into index: any IndexStorage) -> [String] {
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

    private func record(_ batch: [SourceFailure], index: any IndexStorage) {
        do {
            try index.recordFailures(batch)
        } catch {
            problems.withLock { $0.append("cannot record \(batch.count) failures in the index: \(error)") }
        }
    }
}
