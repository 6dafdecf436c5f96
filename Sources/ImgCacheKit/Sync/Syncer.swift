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
    /// Read every seed file and look at every image, not only what changed (`sync --full`).
    public var full = false
    public var writeBack = false
    /// URLs worked on at a time: a window's references, plan, fetches and results are held
    /// while it runs and let go when it ends (its results go to the report's spool).
    public var window = 10_000
    /// URLs of the files read now kept as such; past this many (a first sync, a large import)
    /// the sync looks at every referenced URL instead, from the index a page at a time.
    public var readNowLimit = 100_000
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
        var seeds = try readSeeds(full: full, keepDocuments: writeBack) // new and changed seed files only
        let due = try dueURLs(&seeds)                              // the URLs with work to do, in pages
        let referenced = seeds.found ? try index.referencedURLCount() : 0
        let total = due.all ? referenced : try due.count()        // every referenced URL: no second walk
        var report = try SyncReport()
        try due.forEachWindow(window) { urls throws(CacheError) in // a window at a time: fresh, or
            try work(on: urls, seeds: seeds, into: &report,        // fetch, verify, store, render,
                     total: total, progress: progress, onFailure: onFailure) // record
        }
        summarise(&report, seeds: seeds, referenced: referenced)
        if let reason = halt.reason {
            report.stopped = reason                                // a backend died: nothing more is written
        } else {
            if writeBack { writeBack(&report, read: seeds) }       // isCached into the seeds
            recordFinished(&report)
        }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    /// Ends a run in progress early: what is in flight finishes and is recorded, nothing new
    /// starts, the rest is reported as not synced and the seeds are not written (SIGTERM).
    public func stop(reason: String) {
        halt.stop(reason)
    }

    /// Every URL of a file read now (looked at as a full read would), and every URL the index's
    /// set queries say has work to do: new, failed, expired, not cached. A URL that is cached,
    /// fresh and complete costs nothing here. `--full`, `--refresh`, renditions other than the
    /// last sync's, or more URLs read now than `readNowLimit` make every URL due. The URLs read
    /// now are moved out of `seeds` (sorted), not copied.
    func dueURLs(_ seeds: inout SeedRead) throws(CacheError) -> DueURLs {
        guard seeds.found else { return DueURLs(none: index) }
        let synced = try index.syncedRenditions()
        let all = full || refresh || synced != renditionsFingerprint || seeds.manyURLs
        var readNow: Set<String> = []
        swap(&readNow, &seeds.urls)
        return try DueURLs(index: index, all: all, readNow: all ? [] : readNow.sorted(by: IndexOrder.precedes), now: Date())
    }

    /// One window of due URLs: each one's places in the seeds, the plan, and the run; its
    /// results go to the report. When the index stops answering after the first window, the
    /// rest of the run is not synced and says so, as an outage during a window ends it.
    func work(on urls: [String], seeds: SeedRead, into report: inout SyncReport, total: Int,
              progress: @escaping @Sendable (SyncProgress) -> Void,
              onFailure: @escaping @Sendable (ImageSyncResult) -> Void) throws(CacheError) {
        if let reason = halt.reason { return try report.add(urls.map { stopped(url: $0, reason) }) }
        let plan: Plan
        do {
            plan = try self.plan(catalog(urls, fetchURLs: seeds.fetchURLs))
        } catch {
            guard report.hasResults else { throw error }
            halt.stop(error.message)
            return try report.add(urls.map { stopped(url: $0, error.message) })
        }
        let run = runPlan(plan, before: (report.resultCount, report.bytesDownloaded), total: total,
                          progress: progress, onFailure: onFailure)
        report.bytesDownloaded += run.bytesDownloaded
        report.indexProblems += run.indexProblems
        try report.add(run.results)
    }

    /// Places read of a URL for the catalog: the first 100 in seed order, and the first that
    /// declare its width and height (a logo named by every article is not read whole).
    static let placesPerURL = 100

    /// The entries of `urls`, with the places the seeds name each (for its declared sizes).
    func catalog(_ urls: [String], fetchURLs: [String: String]) throws(CacheError) -> [CatalogEntry] {
        CatalogEntry.collect(try index.seedReferences(urls: urls, perURL: Self.placesPerURL).lazy.map {
            CatalogEntry.Mention(url: $0.url, fetchURL: fetchURLs[$0.url] ?? $0.url, width: $0.width, height: $0.height,
                                 place: SeedLocation(path: $0.seedPath, line: $0.line))
        })
    }

    /// What the configured renditions are, as one text: a cached URL recorded under other
    /// renditions may lack one of these.
    var renditionsFingerprint: String {
        BlobStore.digest(configuration.renditions.map(\.specText).joined(separator: "\n"))
    }

    /// What to ask of the origins: fresh entries need no request; the rest are fetched, with
    /// validators when their original is still on disk. The index is read in batches, not per URL.
    struct Plan {
        var requests: [Fetching.FetchRequest] = []
        var requestEntries: [CatalogEntry] = []
        var fresh: [(CatalogEntry, SourceRecord)] = []
    }

    func plan(_ catalog: [CatalogEntry]) throws(CacheError) -> Plan {
        var known: [String: SourceRecord] = [:]
        for batch in catalog.chunked(1_000) {
            known.merge(try index.sources(urls: batch.map(\.url))) { a, _ in a }
        }
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

    /// Each entry's isCached written into the seed files (only that value changes): the files
    /// read now, and those whose recorded isCached differs from the index's. The files written
    /// are then recorded as they are now (the next sync does not read them again).
    func writeBack(_ report: inout SyncReport, read: SeedRead) {
        var documents = read.documents
        let parsed = Set(documents.map(\.path))
        do {
            for path in try index.seedPathsToWriteBack() where !parsed.contains(path) {
                if case .success(let document) = SeedScanner.load(path, bodyImages: configuration.bodyImages) { documents.append(document) }
            }
            var states: [String: Bool] = [:]
            try report.forEachResult { result in states[result.url] = result.isCached }
            let unknown = Set(documents.flatMap { $0.images.map(\.url) }).filter { states[$0] == nil }
            for (url, source) in try index.sources(urls: Array(unknown)) { states[url] = source.isCached }
            let outcome = SeedWriteBack.apply(states.map { ($0.key, $0.value) }, to: documents)
            report.seedFilesRewritten = outcome.rewritten
            report.seedProblems += outcome.problems
            if outcome.rewritten > 0 { try rerecord(documents.map(\.path)) }
        } catch {
            report.indexProblems.append("cannot write isCached back: \(error)")
        }
    }

    /// The time of this sync and its renditions, for `stats`, /metrics and the next sync. A full
    /// disk or a locked index here must not cost the user the report: it is said, and the run fails.
    func recordFinished(_ report: inout SyncReport) {
        do {
            try index.recordSyncFinished(at: Date(), renditions: renditionsFingerprint)
        } catch {
            report.indexProblems.append("cannot record the time of this sync: \(error)")
        }
    }

    /// The report's figures from the seeds step, the run's counters and the images the seeds
    /// reference in all (those no window needed count as fresh and cached).
    func summarise(_ report: inout SyncReport, seeds: SeedRead, referenced: Int) {
        report.seedsRead = seeds.seeds
        report.seedsChanged = seeds.changed
        report.seedsRemoved = seeds.removed
        report.seedProblems = seeds.problems
        report.finish(referenced: referenced)
        (report.bytesStored, report.duplicates) = counters.withLock { ($0.bytesStored, $0.duplicates) }
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
