import CacheStore
import Dispatch
import Fetching
import Foundation
import GRDB
import ImageCodecs
import ImageCore
import SeedDocuments
import Synchronization

/// What a sync did to one image URL.
public struct ImageSyncResult: Codable, Sendable {
    public enum Action: String, Codable, Sendable {
        /// Downloaded (200).
        case fetched
        /// Revalidated: the origin answered 304, no body.
        case notModified = "not-modified"
        /// Still fresh: no request made.
        case fresh
        case failed
    }
    public var url: String
    public var action: Action
    public var isCached: Bool
    public var digest: String?
    public var error: String?
    /// A stable kind for failures ("http status", "unsupported format", "too many pixels"...).
    public var errorKind: String?
    public var dimensionMismatch: String?
    public var thumbnailsMade: Int
}

/// The outcome of a whole sync.
public struct SyncReport: Codable, Sendable {
    public var seedsRead = 0
    public var seedProblems: [String] = []
    public var images = 0
    public var fetched = 0
    public var notModified = 0
    public var fresh = 0
    public var failed = 0
    public var failuresByKind: [String: Int] = [:]
    public var thumbnailsMade = 0
    public var bytesDownloaded = 0
    public var bytesStored = 0
    /// Downloads whose bytes were already stored for another URL.
    public var duplicates = 0
    public var dimensionMismatches = 0
    public var cached = 0
    public var seedFilesRewritten = 0
    public var seconds = 0.0
    public var results: [ImageSyncResult] = []

    /// Every image cached and every seed file read.
    public var succeeded: Bool { failed == 0 && seedProblems.isEmpty && cached == images }
}

/// Progress for the command line.
public struct SyncProgress: Sendable {
    public var finished: Int
    public var total: Int
    public var bytesDownloaded: Int
}

/// `imgcache sync`: seeds -> catalog -> fetch (conditional, bounded) -> verify -> store the
/// original by content -> decode once -> every variant -> index, then isCached per URL.
/// Downloads and decoding overlap: the fetch thread hands each body to a decode worker as soon
/// as it arrives, and waits when the workers are behind, so memory stays bounded.
public final class Syncer: @unchecked Sendable {
    public let configuration: SyncConfiguration
    public let seedsDirectory: String
    public var refresh = false
    public var writeBack = false
    private let fetcher: any ImageFetching
    private let store: BlobStore
    private let index: CacheIndex

    public init(seedsDirectory: String, configuration: SyncConfiguration, fetcher: (any ImageFetching)? = nil) throws(CacheError) {
        self.seedsDirectory = seedsDirectory
        self.configuration = configuration
        self.fetcher = fetcher ?? CurlFetcher(configuration: configuration.fetch)
        let root = URL(fileURLWithPath: configuration.cacheDirectory)
        store = try BlobStore(root: root)
        index = try CacheIndex(path: root.appendingPathComponent("index.sqlite").path)
    }

    public func run(progress: @escaping @Sendable (SyncProgress) -> Void = { _ in },
                    onFailure: @escaping @Sendable (ImageSyncResult) -> Void = { _ in }) throws(CacheError) -> SyncReport {
        let started = Date()
        counters.withLock { $0 = (0, 0) }
        store.sweepTemporaryFiles()
        let scan = SeedScanner.scan(directory: seedsDirectory)
        let catalog = scan.catalog
        try index.replaceSeedReferences(scan.documents.flatMap { document in
            document.images.map { (seedPath: document.path, url: $0.url, line: $0.line) }
        })

        // Decide, per URL, whether to ask the origin at all.
        var requests: [Fetching.FetchRequest] = []
        var requestEntries: [CatalogEntry] = []
        var freshEntries: [(CatalogEntry, SourceRecord)] = []
        let now = Date()
        for entry in catalog {
            let record = try index.source(entry.url)
            if let record, !refresh, let expires = record.expiresAt, expires > now, let digest = record.digest,
               store.exists(store.objectPath(digest)) {
                freshEntries.append((entry, record))
            } else {
                let haveOriginal = record?.digest.map { store.exists(store.objectPath($0)) } ?? false
                requests.append(Fetching.FetchRequest(url: entry.url, etag: haveOriginal ? record?.etag : nil,
                                             lastModified: haveOriginal ? record?.lastModified : nil))
                requestEntries.append(entry)
            }
        }

        let state = Mutex(RunState())
        let total = catalog.count
        let record: @Sendable (ImageSyncResult, Int) -> Void = { result, downloaded in
            let snapshot = state.withLock { state -> SyncProgress in
                state.results.append(result)
                state.bytesDownloaded += downloaded
                return SyncProgress(finished: state.results.count, total: total, bytesDownloaded: state.bytesDownloaded)
            }
            if result.action == .failed { onFailure(result) }
            progress(snapshot)
        }

        // Decode workers = cores. Up to two bodies per core may wait for a worker; past that the
        // fetch thread waits too, so memory stays bounded however many images there are.
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let workers = DispatchQueue(label: "imgcache.sync.decode", attributes: .concurrent)
        let group = DispatchGroup()
        let queued = DispatchSemaphore(value: cores * 3)
        let decoding = DispatchSemaphore(value: cores)
        let schedule: (@escaping @Sendable () -> Void) -> Void = { work in
            queued.wait()
            workers.async(group: group) {
                decoding.wait()
                work()
                decoding.signal()
                queued.signal()
            }
        }
        for (entry, source) in freshEntries {
            schedule { [self] in record(self.completeWithoutBody(entry, source: source, action: .fresh, response: nil), 0) }
        }
        fetcher.fetchAll(requests) { position, outcome in
            let entry = requestEntries[position]
            schedule { [self] in
                switch outcome {
                case .fetched(let response):
                    record(self.ingest(entry, response: response), response.body.count)
                case .notModified(let response):
                    let source = (try? self.index.source(entry.url)) ?? nil
                    record(self.completeWithoutBody(entry, source: source, action: .notModified, response: response), 0)
                case .failed(let error):
                    record(self.fail(entry, reason: error.description, kind: error.kind.description), 0)
                }
            }
        }
        group.wait()

        var report = state.withLock { state in
            var report = SyncReport()
            report.results = state.results.sorted { $0.url < $1.url }
            report.bytesDownloaded = state.bytesDownloaded
            return report
        }
        report.seedsRead = scan.documents.count
        report.seedProblems = scan.allProblems.map(\.description)
        report.images = catalog.count
        for result in report.results {
            switch result.action {
            case .fetched: report.fetched += 1
            case .notModified: report.notModified += 1
            case .fresh: report.fresh += 1
            case .failed:
                report.failed += 1
                report.failuresByKind[result.errorKind ?? "other", default: 0] += 1
            }
            report.thumbnailsMade += result.thumbnailsMade
            if result.isCached { report.cached += 1 }
            if result.dimensionMismatch != nil { report.dimensionMismatches += 1 }
        }
        (report.bytesStored, report.duplicates) = counters.withLock { ($0.bytesStored, $0.duplicates) }
        if writeBack {
            let states = Dictionary(report.results.map { ($0.url, $0.isCached) }, uniquingKeysWith: { a, _ in a })
            for document in scan.documents {
                let mine = states.filter { url, _ in document.images.contains { $0.url == url } }
                do {
                    if try IsCachedWriter.writeBack(path: document.path, states: mine) { report.seedFilesRewritten += 1 }
                } catch {
                    report.seedProblems.append(error.description)
                }
            }
        }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    private struct RunState: ~Copyable {
        var results: [ImageSyncResult] = []
        var bytesDownloaded = 0
    }

    // MARK: - Per image

    /// A 200: verify, store the original by content, make every variant, record.
    func ingest(_ entry: CatalogEntry, response: FetchResponse) -> ImageSyncResult {
        let body = response.body
        let digest = BlobStore.digest(body)
        var mismatch: DimensionMismatch?
        var made = 0
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
            let records = try writeVariantFiles(thumbnails, digest: digest)
            let duplicate = try index.write { db -> Bool in
                // Writers are serialised: of two URLs with the same bytes, exactly one inserts.
                let existed = try ObjectRecord.exists(db, key: digest)
                try ObjectRecord(digest: digest, bytes: body.count, format: info.format.rawValue,
                                 width: info.size.width, height: info.size.height).insert(db, onConflict: .ignore)
                for record in records { try record.insert(db, onConflict: .ignore) }
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
                try source.save(db)
                return existed && !sameURLAgain
            }
            if duplicate { counters.withLock { $0.duplicates += 1 } }
        } catch let error as CodecError {
            return fail(entry, reason: error.description, kind: error.code.description)
        } catch {
            return fail(entry, reason: "\(error)", kind: "cache")
        }
        return ImageSyncResult(url: entry.url, action: .fetched, isCached: isCached(digest: digest, thumbnails: (try? index.thumbnails(digest: digest)) ?? []),
                               digest: digest, error: nil, errorKind: nil,
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
            let missing = configuration.variants.filter { variant in
                !existing.contains { $0.key == thumbnailKey(digest: digest, variant: variant) && store.exists(thumbnailPath($0)) }
            }
            var records: [ThumbnailRecord] = []
            if !missing.isEmpty {
                let original = try store.read(store.objectPath(digest))
                let thumbnails = try makeVariants(of: original, entry: entry)
                records = try writeVariantFiles(thumbnails, digest: digest)
                made = thumbnails.count
                mismatch = thumbnails.first?.dimensionMismatch?.description
            }
            cached = isCached(digest: digest, thumbnails: existing + records)
            let changed = response != nil || !records.isEmpty || source.status != "ok" || source.lastError != nil
                || source.declaredWidth != entry.width || source.declaredHeight != entry.height || source.isCached != cached
            // A fresh image with nothing new costs no write (and no fsync): second syncs stay cheap.
            if changed {
                try index.write { db in
                    for record in records { try record.insert(db, onConflict: .ignore) }
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

    /// Records a failure. A copy cached earlier stays and keeps serving.
    func fail(_ entry: CatalogEntry, reason: String, kind: String) -> ImageSyncResult {
        let outcome = try? index.write { db -> (Bool, String?) in
            var source = try SourceRecord.fetchOne(db, key: entry.url) ?? SourceRecord(url: entry.url)
            let thumbnails = try source.digest.map { try ThumbnailRecord.filter(Column("digest") == $0).fetchAll(db) } ?? []
            source.isCached = source.digest.map { isCached(digest: $0, thumbnails: thumbnails) } ?? false
            source.status = "failed"
            source.lastError = reason
            source.declaredWidth = entry.width
            source.declaredHeight = entry.height
            source.updatedAt = Date()
            try source.save(db)
            return (source.isCached, source.digest)
        }
        return ImageSyncResult(url: entry.url, action: .failed, isCached: outcome?.0 ?? false, digest: outcome?.1, error: reason,
                               errorKind: kind, dimensionMismatch: nil, thumbnailsMade: 0)
    }

    // MARK: - Helpers

    /// Decodes once and makes every configured variant (nothing is written yet).
    private func makeVariants(of data: Data, entry: CatalogEntry) throws(CodecError) -> [Thumbnail] {
        let declared = entry.width.flatMap { w in entry.height.map { Size(width: w, height: $0) } }
        return try Thumbnailer.makeThumbnails(from: data, declaredSize: declared,
                                              variants: configuration.variants.map { configuration.options(for: $0) })
    }

    /// Writes the thumbnail files (temp, fsync, rename), then returns their index rows. Rows are
    /// inserted by the caller after the files exist, so no row ever points at a missing file.
    private func writeVariantFiles(_ thumbnails: [Thumbnail], digest: String) throws(CacheError) -> [ThumbnailRecord] {
        var records: [ThumbnailRecord] = []
        var stored = 0
        for (variant, thumbnail) in zip(configuration.variants, thumbnails) {
            let key = thumbnailKey(digest: digest, variant: variant)
            let path = store.thumbnailPath(key, fileExtension: thumbnail.format.fileExtension)
            if !store.exists(path) {
                try store.write(thumbnail.data, to: path)
                stored += thumbnail.data.count
            }
            records.append(ThumbnailRecord(key: key, digest: digest, variant: variant.name, width: thumbnail.size.width,
                                           height: thumbnail.size.height, format: thumbnail.format.rawValue,
                                           bytes: thumbnail.data.count))
        }
        counters.withLock { $0.bytesStored += stored }
        return records
    }

    /// Bytes written and duplicate downloads during the current run.
    private let counters = Mutex((bytesStored: 0, duplicates: 0))

    public func thumbnailKey(digest: String, variant: Variant) -> String {
        BlobStore.digest("\(digest)|\(variant.specText)")
    }

    private func thumbnailPath(_ record: ThumbnailRecord) -> String {
        store.thumbnailPath(record.key, fileExtension: record.format == "png" ? "png" : "jpg")
    }

    /// True exactly when the URL's original and every configured variant are in the cache.
    public func isCached(url: String) throws(CacheError) -> Bool {
        guard let digest = try index.source(url)?.digest else { return false }
        return isCached(digest: digest, thumbnails: try index.thumbnails(digest: digest))
    }

    /// True when the original `digest` and, among `thumbnails` (its index rows), every configured
    /// variant are on disk.
    func isCached(digest: String, thumbnails: [ThumbnailRecord]) -> Bool {
        guard store.exists(store.objectPath(digest)) else { return false }
        return configuration.variants.allSatisfy { variant in
            let key = thumbnailKey(digest: digest, variant: variant)
            return thumbnails.contains { $0.key == key && store.exists(thumbnailPath($0)) }
        }
    }
}
