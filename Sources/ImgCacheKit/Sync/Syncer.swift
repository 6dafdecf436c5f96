import CacheStore
import Fetching
import Foundation
import SeedDocuments
import Synchronization

/// `imgcache sync`, as the steps `run` lists: read the seeds, plan, then for each image fetch,
/// verify, store, render and record (`runPlan`, `process`), then write isCached back.
/// Downloads and decoding overlap: the fetch thread hands each body to a decode worker as soon
/// as it arrives, and waits when the workers are behind, so memory stays bounded.
public final class Syncer: @unchecked Sendable {
    public let configuration: Configuration
    public let seedsDirectory: String
    public var refresh = false
    public var writeBack = false
    /// When another sync holds the index's lease: wait for it (true) or fail at once naming it.
    public var waitForLease = false
    /// Called once when this sync starts to wait for the lease, with its holder if recorded.
    public var onLeaseWait: @Sendable (SyncLeaseHolder?) -> Void = { _ in }
    let fetcher: any ImageFetching
    let store: any BlobStorage
    let index: any IndexStorage

    public init(seedsDirectory: String, configuration: Configuration, fetcher: (any ImageFetching)? = nil) throws(CacheError) {
        self.seedsDirectory = seedsDirectory
        self.configuration = configuration
        self.fetcher = fetcher ?? CurlFetcher(configuration: configuration.fetch)
        let cache = try Cache.open(configuration, for: .writing)
        store = cache.store
        index = cache.index
    }

    /// The sync, step by step.
    public func run(progress: @escaping @Sendable (SyncProgress) -> Void = { _ in },
                    onFailure: @escaping @Sendable (ImageSyncResult) -> Void = { _ in }) throws(CacheError) -> SyncReport {
        let started = Date()
        // One sync per index at a time: a second one would fetch and upload everything again.
        let lease = try index.acquireSyncLease(.current(), wait: waitForLease, waiting: onLeaseWait)
        defer { lease.release() }
        let scan = try readSeeds()                                 // the seeds, and which names which URL
        let plan = try plan(scan.catalog)                          // fresh, or to fetch (with validators)
        let run = runPlan(plan, total: scan.catalog.count,         // each image: fetch, verify, store,
                          progress: progress, onFailure: onFailure) // render, record
        var report = summarise(run, scan: scan)
        if let reason = halt.reason {
            report.stopped = reason                                // a backend died: nothing more is written
        } else {
            if writeBack { writeBack(&report, to: scan.documents) } // isCached into the seeds
            recordFinished(&report)
        }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    /// Reads every seed document and records which seed names which URL (prune's
    /// `--unreferenced` and the manifest read it); temp files of dead runs are swept first.
    func readSeeds() throws(CacheError) -> SeedScan {
        counters.withLock { $0 = (0, 0) }
        store.sweepTemporaryFiles()
        let scan = SeedScanner.scan(directory: seedsDirectory, bodyImages: configuration.bodyImages)
        try index.replaceSeedReferences(scan.documents.flatMap { document in
            document.images.map { SeedReference(seedPath: document.path, url: $0.url, line: $0.line) }
        })
        return scan
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
                plan.requests.append(Fetching.FetchRequest(url: entry.fetchURL, etag: haveOriginal ? record?.etag : nil,
                                                           lastModified: haveOriginal ? record?.lastModified : nil))
                plan.requestEntries.append(entry)
            }
        }
        return plan
    }

    /// Each entry's isCached written into the seed files (only that value changes).
    func writeBack(_ report: inout SyncReport, to documents: [SeedDocument]) {
        let outcome = SeedWriteBack.apply(report.results.map { ($0.url, $0.isCached) }, to: documents)
        report.seedFilesRewritten = outcome.rewritten
        report.seedProblems += outcome.problems
    }

    /// The time of this sync, for `stats` and /metrics. A full disk or a locked index here must
    /// not cost the user the report: it is said, and the run fails.
    func recordFinished(_ report: inout SyncReport) {
        do {
            try index.recordSyncFinished()
        } catch {
            report.indexProblems.append("cannot record the time of this sync: \(error)")
        }
    }

    /// The report from every result.
    func summarise(_ run: RunResults, scan: SeedScan) -> SyncReport {
        var report = SyncReport()
        report.results = run.results.sorted { $0.url < $1.url }
        report.bytesDownloaded = run.bytesDownloaded
        report.indexProblems = run.indexProblems
        report.seedsRead = scan.documents.count
        report.seedProblems = scan.allProblems.map(\.description)
        report.images = scan.catalog.count
        for result in report.results {
            switch result.action {
            case .fetched: report.fetched += 1
            case .notModified: report.notModified += 1
            case .fresh: report.fresh += 1
            case .failed:
                report.failed += 1
                report.failuresByKind[(result.errorKind ?? .other).rawValue, default: 0] += 1
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
    /// Set when the index or the store stops answering: no new work starts.
    let halt = BackendHalt()

    /// Bytes written and duplicate downloads during the current run.
    let counters = Mutex((bytesStored: 0, duplicates: 0))

    struct RunState: ~Copyable {
        var results: [ImageSyncResult] = []
        var bytesDownloaded = 0
    }
}
