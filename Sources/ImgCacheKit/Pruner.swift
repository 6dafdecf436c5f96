import CacheStore
import Foundation
import SeedDocuments

/// What `imgcache prune` did (or, with `--dry-run`, would do).
public struct PruneReport: Codable, Sendable {
    public struct RemovedImage: Codable, Sendable {
        public var digest: String
        public var reason: PrunePlan.Reason
        public var bytes: Int
        public var lastUsed: Date
        /// The URLs it was cached for (none for an original no URL points at any more).
        public var urls: [String]
    }
    public var dryRun = false
    public var removed: [RemovedImage] = []
    public var imagesBefore = 0
    public var bytesBefore = 0
    public var bytesAfter = 0
    public var bytesReclaimed = 0
    public var filesRemoved = 0
    public var thumbnailsRemoved = 0
    /// Of those, variants made on request by `serve` (`/v/…`), which go with their original.
    public var onDemandVariantsRemoved = 0
    /// Rows of URLs no seed references any more, forgotten (with `--unreferenced`).
    public var urlsForgotten = 0
    /// URLs that a seed still references and that are no longer cached.
    public var urlsNoLongerCached: [String] = []
    public var keptInGrace = 0
    public var overMaxBytes = 0
    public var seedFilesRewritten = 0
    public var problems: [String] = []
    public var seconds = 0.0

    public var removedByReason: [String: Int] {
        Dictionary(grouping: removed, by: \.reason.rawValue).mapValues(\.count)
    }
}

/// Why prune refused to run.
public struct PruneError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Runs a `PrunePlan` against a cache: the plan is made inside the write transaction (so it
/// sees everything a concurrent sync has committed), the rows go in that one transaction, and
/// the files are unlinked after it commits, under the removal lock (see `RemovalLock`).
/// A client already streaming a file keeps its open descriptor and gets every byte.
public final class Pruner: Sendable {
    public let store: any BlobStorage
    public let index: any IndexStorage
    /// Images in the seeds' bodies count as references (the configuration's `bodyImages`).
    public let bodyImages: Bool

    /// Opens an existing cache (prune never creates one), its files in `store` and its index
    /// at `index` when given.
    public convenience init(cacheDirectory: String) throws(CacheError) {
        self.init(try Cache.open(directory: cacheDirectory, for: .reading))
    }

    public convenience init(_ cache: Cache) {
        self.init(store: cache.store, index: cache.index, bodyImages: cache.configuration.bodyImages)
    }

    public init(store: any BlobStorage, index: any IndexStorage, bodyImages: Bool = false) {
        self.store = store
        self.index = index
        self.bodyImages = bodyImages
    }

    /// - Parameters:
    ///   - unreferencedSeeds: with `policy.removeUnreferenced`, the folder whose seeds decide what is referenced.
    ///   - writeBackSeeds: a folder whose seed files get `isCached: false` for every URL that lost its image.
    public func run(policy: PrunePolicy, unreferencedSeeds: String? = nil, writeBackSeeds: String? = nil,
                    dryRun: Bool = false, now: Date = Date()) throws -> PruneReport {
        let started = Date()
        var referencedURLs: Set<String>?
        if policy.removeUnreferenced {
            guard let unreferencedSeeds else { throw PruneError("--unreferenced needs a seeds folder") }
            referencedURLs = try Self.referencedURLs(seedsDirectory: unreferencedSeeds, bodyImages: bodyImages)
        }
        var report = PruneReport()
        report.dryRun = dryRun
        let staleBefore = now.addingTimeInterval(-policy.grace)
        // The plan walks the index's images in least-recently-used order (twice for --max-size):
        // what is held is the removals, not the cache.
        if dryRun {
            let (plan, stale) = try index.planPrune(referencedURLs: referencedURLs, staleBefore: staleBefore) { candidates in
                (try report.plan(candidates, policy: policy, now: now, forgetting: referencedURLs != nil), candidates.staleURLs)
            }
            report.filesRemoved = plan.removals.count + report.thumbnailsRemoved
            report.attach(urls: try index.urls(ofDigests: plan.removals.map(\.digest)), stale: stale)
        } else {
            // The plan is made inside the transaction, so it sees everything a concurrent sync committed.
            var stale = Set<String>()
            let removal = try index.prune(at: now, referencedURLs: referencedURLs, staleBefore: staleBefore, decide: { candidates in
                let plan = try report.plan(candidates, policy: policy, now: now, forgetting: referencedURLs != nil)
                stale = candidates.staleURLs
                return PruneDecision(digests: plan.removals.map(\.digest), forgetURLs: candidates.staleURLs,
                                     bytesReclaimed: plan.bytesReclaimed)
            }, removeFiles: { self.store.delete($0) })
            report.thumbnailsRemoved = removal.thumbnailsRemoved
            report.filesRemoved = removal.filesRemoved
            report.attach(urls: removal.urls, stale: stale)
            if !report.removed.isEmpty || report.urlsForgotten > 0 { index.refreshPlannerStatistics() }
        }
        if let writeBackSeeds, !dryRun, !report.urlsNoLongerCached.isEmpty {
            let outcome = SeedWriteBack.apply(report.urlsNoLongerCached.map { ($0, false) },
                                              to: SeedScanner.scan(directory: writeBackSeeds).documents)
            report.seedFilesRewritten = outcome.rewritten
            report.problems += outcome.problems
        }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    /// Every URL the seeds under `directory` reference. Refuses when a seed file could not be
    /// read or parsed (its URLs would count as unreferenced) or when there are no seeds at all.
    static func referencedURLs(seedsDirectory directory: String, bodyImages: Bool) throws -> Set<String> {
        let scan = SeedScanner.scan(directory: directory, bodyImages: bodyImages)
        let broken = scan.errors.filter { $0.code != .noFrontMatter }
        if let first = broken.first {
            throw PruneError("cannot tell what is unreferenced while a seed could not be read: \(first)"
                             + (broken.count > 1 ? " (and \(broken.count - 1) more)" : ""))
        }
        guard !scan.documents.isEmpty else {
            throw PruneError("no seed documents under \(directory): refusing to treat every image as unreferenced")
        }
        return Set(scan.documents.flatMap { $0.images.map(\.url) })
    }
}

extension PruneReport {
    /// Makes the plan from `inventory` and fills in what it says (sizes, removals, URLs that
    /// lose their image; with `forgetting`, the stale URLs that lose their rows).
    mutating func plan(_ candidates: PruneCandidates, policy: PrunePolicy, now: Date, forgetting: Bool) throws -> PrunePlan {
        let plan = try PrunePlan.make(walking: candidates.walk, policy: policy, now: now, totals: candidates.totals)
        imagesBefore = plan.imagesBefore
        bytesBefore = plan.bytesBefore
        bytesAfter = plan.bytesAfter
        bytesReclaimed = plan.bytesReclaimed
        keptInGrace = plan.keptInGrace
        overMaxBytes = plan.overMaxBytes
        thumbnailsRemoved = plan.removals.reduce(0) { $0 + $1.thumbnails }
        onDemandVariantsRemoved = plan.removals.reduce(0) { $0 + $1.onDemandVariants }
        removed = plan.removals.map { removal in
            RemovedImage(digest: removal.digest, reason: removal.reason, bytes: removal.bytes, lastUsed: removal.lastUsed, urls: [])
        }
        if forgetting { urlsForgotten = candidates.staleURLs.count }
        return plan
    }

    /// The URLs each removed image was cached as, and those that lose their image (all but the
    /// stale ones, whose rows go).
    mutating func attach(urls: [String: [String]], stale: Set<String>) {
        for index in removed.indices { removed[index].urls = (urls[removed[index].digest] ?? []).sorted() }
        urlsNoLongerCached = Set(removed.flatMap(\.urls)).subtracting(stale).sorted()
    }
}
