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
    /// What kind of failure ("http status", "unsupported format", "disk full"...): the kind the index records.
    public var errorKind: FailureKind?
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
    /// Why the run stopped before it was done (its index or store stopped answering), naming the backend.
    public var stopped: String?
    public var succeeded: Bool { stopped == nil && failed == 0 && seedProblems.isEmpty && indexProblems.isEmpty && cached == images }
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
    public let configuration: Configuration
    public let seedsDirectory: String
    public var refresh = false
    public var writeBack = false
    /// When another sync holds the index's lease: wait for it (true) or fail at once naming it.
    public var waitForLease = false
    /// Called once when this sync starts to wait for the lease, with its holder if recorded.
    public var onLeaseWait: @Sendable (SyncLeaseHolder?) -> Void = { _ in }
    private let fetcher: any ImageFetching
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

    public func run(progress: @escaping @Sendable (SyncProgress) -> Void = { _ in },
                    onFailure: @escaping @Sendable (ImageSyncResult) -> Void = { _ in }) throws(CacheError) -> SyncReport {
        let started = Date()
        // One sync per index at a time: a second one would fetch and upload everything again.
        let lease = try index.acquireSyncLease(.current(), wait: waitForLease, waiting: onLeaseWait)
        defer { lease.release() }
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
        if let reason = halt.reason {
            report.stopped = reason
            report.seconds = Date().timeIntervalSince(started)
            return report
        }
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
                plan.requests.append(Fetching.FetchRequest(url: entry.fetchURL, etag: haveOriginal ? record?.etag : nil,
                                                           lastModified: haveOriginal ? record?.lastModified : nil))
                plan.requestEntries.append(entry)
            }
        }
        return plan
    }

    /// Runs the plan: the fetch thread hands each body to a decode worker (`DecodeScheduler`)
    /// as soon as it arrives.
    private func fetchAndIngest(_ plan: Plan, total: Int, progress: @escaping @Sendable (SyncProgress) -> Void,
                                onFailure: @escaping @Sendable (ImageSyncResult) -> Void) -> RunResults {
        let state = Mutex(RunState())
        let record: @Sendable (ImageSyncResult, Int) -> Void = { result, downloaded in
            let snapshot = state.withLock { state -> SyncProgress in
                state.results.append(result)
                state.bytesDownloaded += downloaded
                return SyncProgress(finished: state.results.count, total: total, bytesDownloaded: state.bytesDownloaded)
            }
            if result.action == .failed, result.errorKind != .stopped { onFailure(result) }
            progress(snapshot)
        }
        let scheduler = DecodeScheduler()
        let schedule = scheduler.schedule
        // Entries whose original a prune beside this sync removed: fetched again, in full, at the end.
        let refetch = Mutex<[CatalogEntry]>([])
        let complete: @Sendable (CatalogEntry, SourceRecord?, ImageSyncResult.Action, FetchResponse?) -> Void = { [self] entry, source, action, response in
            if let result = completeWithoutBody(entry, source: source, action: action, response: response) {
                record(result, 0)
            } else {
                refetch.withLock { $0.append(entry) }
            }
        }
        for (entry, source) in plan.fresh {
            schedule { [self] in
                if let reason = halt.reason { return record(stopped(entry, reason), 0) }
                complete(entry, source, .fresh, nil)
            }
        }
        let fetchAll = { [self] (requests: [Fetching.FetchRequest], entries: [CatalogEntry]) in
            fetcher.fetchAll(requests, stopping: { self.halt.reason != nil }) { position, outcome in
                let entry = entries[position]
                schedule { [self] in
                    if let reason = halt.reason { return record(stopped(entry, reason), 0) }
                    switch outcome {
                    case .fetched(let response):
                        record(self.ingest(entry, response: response), response.body.count)
                    case .notModified(let response):
                        complete(entry, (try? self.index.source(entry.url)) ?? nil, .notModified, response)
                    case .failed(let error):
                        record(self.fail(entry, reason: error.description, kind: FailureKind(named: error.kind.description)), 0)
                    }
                }
            }
            scheduler.waitForAll()
        }
        fetchAll(plan.requests, plan.requestEntries)
        let again = refetch.withLock { $0 }
        if !again.isEmpty {
            // No validators: a 304 now would be answered from an original that is gone.
            fetchAll(again.map { Fetching.FetchRequest(url: $0.fetchURL, etag: nil, lastModified: nil) }, again)
            // A 304 despite that (or another prune meanwhile) ends as a failure, said as such.
            for entry in refetch.withLock({ Array($0.dropFirst(again.count)) }) {
                record(fail(entry, reason: "the original was pruned during this sync; the next sync fetches it again", kind: .pruned), 0)
            }
        }
        var results = state.withLock { RunResults(results: $0.results, bytesDownloaded: $0.bytesDownloaded) }
        if halt.reason == nil { results.indexProblems = failures.flush(into: index) }
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

    private struct RunState: ~Copyable {
        var results: [ImageSyncResult] = []
        var bytesDownloaded = 0
    }
}
