import CacheStore
import Fetching
import Foundation
import ImageCodecs
import ImageCore
import SeedDocuments

/// The steps of one image: verify (decode), store (the original), render (the variants that
/// are missing: all of them for a new body), record (one index transaction). A body just
/// fetched and an original kept from an earlier sync (a 304, or still fresh) go through the
/// same steps; only what is recorded differs.
extension Syncer {
    /// The bytes an image's steps start from.
    enum ImageWork {
        case fetched(FetchResponse)
        case kept(SourceRecord, action: ImageSyncResult.Action, response: FetchResponse?)
    }

    /// What the render step made: the thumbnails in memory and their index rows (files stored).
    struct Rendered {
        var thumbnails: [Thumbnail] = []
        var records: [ThumbnailRecord] = []
        /// Rows of renditions that were there already (a kept image's).
        var existing: [ThumbnailRecord] = []
    }

    /// Every step for one image, its failures recorded. Nil when a kept original is gone (a
    /// prune beside this sync took it): the caller fetches it again in full.
    func process(_ entry: CatalogEntry, _ work: ImageWork) -> ImageSyncResult? {
        let digest: String
        switch work {
        case .fetched(let response): digest = BlobStore.digest(response.body)
        case .kept(let source, _, _):
            guard let known = source.digest else { return noOriginal(entry) }
            digest = known
        }
        do {
            let result = try steps(entry, work, digest: digest)
            halt.succeeded()
            return result
        } catch let error as CodecError {
            return fail(entry, reason: error.description, kind: FailureKind(named: error.code.description))
        } catch {
            halt.failed(error)
            if let reason = halt.reason { return stopped(entry, reason) }
            if case .kept = work, !store.exists(.original(digest)) { return nil }
            return fail(entry, reason: "\(error)", kind: Self.kind(of: error))
        }
    }

    private func steps(_ entry: CatalogEntry, _ work: ImageWork, digest: String) throws -> ImageSyncResult {
        var rendered = Rendered()
        let missing: [Rendition], original: Data
        switch work {
        case .fetched(let response):
            (missing, original) = (configuration.renditions, response.body)
        case .kept:
            rendered.existing = try index.thumbnails(digest: digest)
            missing = configuration.renditions.filter { rendition in
                !rendered.existing.contains { $0.key == rendition.thumbnailKey(digest: digest) && store.exists($0.blobKey) }
            }
            original = missing.isEmpty ? Data() : try store.get(.original(digest))
        }
        rendered.thumbnails = missing.isEmpty ? [] : try render(original, entry: entry, renditions: missing)
        if case .fetched = work { try storeOriginal(original, digest: digest) }
        rendered.records = try storeVariants(rendered.thumbnails, renditions: missing, digest: digest)
        switch work {
        case .fetched(let response):
            let cached = try recordFetched(entry, response: response, digest: digest, rendered)
            return result(entry, .fetched, digest: digest, cached: cached, rendered, mismatch: rendered.thumbnails.first?.dimensionMismatch)
        case .kept(let source, let action, let response):
            let cached = try recordKept(entry, source: source, response: response, digest: digest, rendered)
            return result(entry, action, digest: digest, cached: cached, rendered,
                          mismatch: rendered.thumbnails.first?.dimensionMismatch ?? Self.mismatch(entry, source))
        }
    }

    /// Record a new body: the original's row, its thumbnails', the URL's. A prune may have
    /// removed these files since they were written: the index has them put back (under its
    /// removal lock) before any row points at them.
    private func recordFetched(_ entry: CatalogEntry, response: FetchResponse, digest: String, _ rendered: Rendered) throws(CacheError) -> Bool {
        let info = rendered.thumbnails[0].source
        let placeholder = Self.placeholder(from: rendered.thumbnails)
        let image = FetchedImage(
            url: entry.url,
            object: ObjectRecord(digest: digest, bytes: response.body.count, format: info.format,
                                 width: info.size.width, height: info.size.height,
                                 blurHash: placeholder?.blurHash, dominantColor: placeholder?.dominantColor,
                                 colorProfile: rendered.thumbnails[0].color.summary,
                                 frames: info.frames > 1 ? info.frames : nil,
                                 durationMilliseconds: info.frames > 1 ? info.durationMilliseconds : nil),
            thumbnails: rendered.records, etag: response.etag, lastModified: response.lastModified,
            expiresAt: expiry(response), declaredWidth: entry.width, declaredHeight: entry.height,
            decodedWidth: info.orientedSize.width, decodedHeight: info.orientedSize.height)
        let (duplicate, cached) = try index.recordFetched(image, ensureFiles: {
            if !store.exists(.original(digest)) { try store.put(response.body, as: .original(digest)) }
            try restoreMissing(rendered.thumbnails, rendered.records)
        }, isCached: { isCached(digest: digest, thumbnails: rendered.records) })
        if duplicate { counters.withLock { $0.duplicates += 1 } }
        return cached
    }

    /// Record a kept original: new validators, the variants just made, a placeholder or colour
    /// profile it lacked. A fresh image with nothing new costs no write (and no fsync).
    private func recordKept(_ entry: CatalogEntry, source: SourceRecord, response: FetchResponse?, digest: String,
                            _ rendered: Rendered) throws -> Bool {
        var update = Revalidation(url: entry.url, digest: digest, declaredWidth: entry.width, declaredHeight: entry.height, isCached: false)
        update.newThumbnails = rendered.records
        // Cached before colour profiles were recorded: the decode just made says which it had.
        update.colorProfile = rendered.thumbnails.first?.color.summary
        update.placeholder = try placeholder(digest: digest, made: rendered.thumbnails, existing: rendered.existing)
        let cached = isCached(digest: digest, thumbnails: rendered.existing + rendered.records)
        update.isCached = cached
        if let response { update.validators = (response.etag, response.lastModified, expiry(response)) }
        let changed = response != nil || !rendered.records.isEmpty || update.placeholder != nil || source.status != .ok
            || source.lastError != nil || source.declaredWidth != entry.width || source.declaredHeight != entry.height
            || source.isCached != cached
        guard changed else { return cached }
        try index.recordRevalidated(update) {
            // The original must still be here (else a prune took it: this URL is fetched again).
            guard store.exists(.original(digest)) else {
                throw CacheError(.io, "the original was pruned during this sync; the next sync fetches it again")
            }
            try restoreMissing(rendered.thumbnails, rendered.records)
        }
        return cached
    }

    private func result(_ entry: CatalogEntry, _ action: ImageSyncResult.Action, digest: String, cached: Bool, _ rendered: Rendered,
                        mismatch: DimensionMismatch?) -> ImageSyncResult {
        ImageSyncResult(url: entry.url, action: action, isCached: cached, digest: digest, error: nil, errorKind: nil,
                        dimensionMismatch: mismatch?.description, thumbnailsMade: rendered.thumbnails.count)
    }

    /// A declared size other than the decoded one recorded for a kept image.
    private static func mismatch(_ entry: CatalogEntry, _ source: SourceRecord) -> DimensionMismatch? {
        guard let w = entry.width, let h = entry.height, let dw = source.decodedWidth, let dh = source.decodedHeight, (w, h) != (dw, dh) else {
            return nil
        }
        return DimensionMismatch(declared: Size(width: w, height: h), actual: Size(width: dw, height: dh))
    }

    /// How long a response may be used without asking again: its own freshness, at least the configured minimum.
    func expiry(_ response: FetchResponse) -> Date {
        Date().addingTimeInterval(max(response.freshnessLifetime() ?? 0, configuration.minTTL))
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

    /// The placeholder, from the smallest variant.
    static func placeholder(from thumbnails: [Thumbnail]) -> Placeholder? {
        thumbnails.min { $0.size.pixelCount < $1.size.pixelCount }.map { Placeholder.compute(from: $0.bitmap) }
    }

    /// Verify and render: decodes once (decoding is the check: an HTML error page served with
    /// 200, a bomb or a truncated file fails here, before anything is stored) and makes
    /// `renditions` in memory.
    func render(_ data: Data, entry: CatalogEntry, renditions: [Rendition]) throws(CodecError) -> [Thumbnail] {
        let declared = entry.width.flatMap { w in entry.height.map { Size(width: w, height: $0) } }
        return try Thumbnailer.makeThumbnails(from: data, declaredSize: declared, variants: renditions.map { configuration.options(for: $0) })
    }

    /// Store: the original by content, unless it is there already.
    func storeOriginal(_ body: Data, digest: String) throws(CacheError) {
        guard !store.exists(.original(digest)) else { return }
        try store.put(body, as: .original(digest))
        counters.withLock { $0.bytesStored += body.count }
    }

    /// Writes the thumbnail files (temp, fsync, rename), then returns their index rows. Rows are
    /// inserted by the caller after the files exist, so no row ever points at a missing file.
    func storeVariants(_ thumbnails: [Thumbnail], renditions: [Rendition], digest: String) throws(CacheError) -> [ThumbnailRecord] {
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
    func restoreMissing(_ thumbnails: [Thumbnail], _ records: [ThumbnailRecord]) throws(CacheError) {
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
