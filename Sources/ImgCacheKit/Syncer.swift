import CacheStore
import Dispatch
import Fetching
import Foundation
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
    /// What could not be recorded in the index (a full disk, say): the run failed, the report stands.
    public var indexProblems: [String] = []
    public var seconds = 0.0
    public var results: [ImageSyncResult] = []

    /// Every image cached and every seed file read.
    public var succeeded: Bool { failed == 0 && seedProblems.isEmpty && indexProblems.isEmpty && cached == images }
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
    let store: any BlobStorage
    let index: any IndexStorage

    public init(seedsDirectory: String, configuration: SyncConfiguration, fetcher: (any ImageFetching)? = nil) throws(CacheError) {
        self.seedsDirectory = seedsDirectory
        self.configuration = configuration
        self.fetcher = fetcher ?? CurlFetcher(configuration: configuration.fetch)
        // The index's folder always exists (the SQLite file and its lock live there).
        let local = try BlobStore(root: URL(fileURLWithPath: configuration.cacheDirectory))
        store = configuration.store == nil ? local : try configuration.openBlobStore(creating: true)
        index = try configuration.indexLocation().open()
    }

    public func run(progress: @escaping @Sendable (SyncProgress) -> Void = { _ in },
                    onFailure: @escaping @Sendable (ImageSyncResult) -> Void = { _ in }) throws(CacheError) -> SyncReport {
        let started = Date()
        counters.withLock { $0 = (0, 0) }
        store.sweepTemporaryFiles()
        let scan = SeedScanner.scan(directory: seedsDirectory)
        let catalog = scan.catalog
        try index.replaceSeedReferences(scan.documents.flatMap { document in
            document.images.map { SeedReference(seedPath: document.path, url: $0.url, line: $0.line) }
        })
        let plan = try plan(catalog)
        let results = fetchAndIngest(plan, total: catalog.count, progress: progress, onFailure: onFailure)
        var report = summarise(results, scan: scan, images: catalog.count)
        if writeBack {
            let outcome = SeedWriteBack.apply(report.results.map { ($0.url, $0.isCached) }, to: scan.documents)
            report.seedFilesRewritten = outcome.rewritten
            report.seedProblems += outcome.problems
        }
        // A full disk or a locked index here must not cost the user the report: it is said, and the run fails.
        do {
            try index.recordSyncFinished()
        } catch {
            report.indexProblems.append("cannot record the time of this sync: \(error)")
        }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    /// What to ask of the origins: fresh entries need no request; the rest are fetched, with
    /// validators when their original is still on disk. The index is read once, not per URL.
    struct Plan {
        var requests: [Fetching.FetchRequest] = []
        var requestEntries: [CatalogEntry] = []
        var fresh: [(CatalogEntry, SourceRecord)] = []
    }

    func plan(_ catalog: [CatalogEntry]) throws(CacheError) -> Plan {
        let known = try index.allSources()
        priorDigests.withLock { $0 = known.compactMapValues(\.digest) }
        var plan = Plan()
        let now = Date()
        for entry in catalog {
            let record = known[entry.url]
            if let record, !refresh, let expires = record.expiresAt, expires > now, let digest = record.digest,
               store.exists(.original(digest)) {
                plan.fresh.append((entry, record))
            } else {
                let haveOriginal = record?.digest.map { store.exists(.original($0)) } ?? false
                plan.requests.append(Fetching.FetchRequest(url: entry.url, etag: haveOriginal ? record?.etag : nil,
                                                           lastModified: haveOriginal ? record?.lastModified : nil))
                plan.requestEntries.append(entry)
            }
        }
        return plan
    }

    /// Runs the plan: the fetch thread hands each body to a decode worker as soon as it arrives.
    /// Decode workers = cores; up to two bodies per core may wait for a worker, past that the
    /// fetch thread waits too, so memory stays bounded however many images there are.
    private func fetchAndIngest(_ plan: Plan, total: Int, progress: @escaping @Sendable (SyncProgress) -> Void,
                                onFailure: @escaping @Sendable (ImageSyncResult) -> Void) -> RunResults {
        let state = Mutex(RunState())
        let record: @Sendable (ImageSyncResult, Int) -> Void = { result, downloaded in
            let snapshot = state.withLock { state -> SyncProgress in
                state.results.append(result)
                state.bytesDownloaded += downloaded
                return SyncProgress(finished: state.results.count, total: total, bytesDownloaded: state.bytesDownloaded)
            }
            if result.action == .failed { onFailure(result) }
            progress(snapshot)
        }
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
        for (entry, source) in plan.fresh {
            schedule { [self] in record(self.completeWithoutBody(entry, source: source, action: .fresh, response: nil), 0) }
        }
        fetcher.fetchAll(plan.requests) { position, outcome in
            let entry = plan.requestEntries[position]
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
        var results = state.withLock { RunResults(results: $0.results, bytesDownloaded: $0.bytesDownloaded) }
        results.indexProblems = failures.flush(into: index)
        return results
    }

    /// The report from every result.
    private func summarise(_ run: RunResults, scan: SeedScan, images: Int) -> SyncReport {
        var report = SyncReport()
        report.results = run.results.sorted { $0.url < $1.url }
        report.bytesDownloaded = run.bytesDownloaded
        report.indexProblems = run.indexProblems
        report.seedsRead = scan.documents.count
        report.seedProblems = scan.allProblems.map(\.description)
        report.images = images
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
        return report
    }

    struct RunResults {
        var results: [ImageSyncResult]
        var bytesDownloaded: Int
        var indexProblems: [String] = []
    }

    /// Digests the index had for each URL when the run started: a failing URL without one has
    /// nothing cached, so its failure is recorded in a batch, not in a transaction of its own.
    let priorDigests = Mutex<[String: String]>([:])
    /// Failures waiting to be recorded.
    let failures = FailureBatch()

    /// Bytes written and duplicate downloads during the current run.
    let counters = Mutex((bytesStored: 0, duplicates: 0))

    private struct RunState: ~Copyable {
        var results: [ImageSyncResult] = []
        var bytesDownloaded = 0
    }
}
