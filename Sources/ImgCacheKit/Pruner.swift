import CacheStore
import Foundation
import SeedDocuments

/// What `imgcache prune` did (or, with `--dry-run`, would do). Its figures are in memory;
/// its two lists (the images removed, with their URLs, and the URLs a seed still names that
/// lost their image) are spooled to temporary files as the prune decides and read back by
/// `forEachRemoved` and `forEachURLNoLongerCached`: a prune that removes 100,000 images
/// holds their digests, not their report.
public struct PruneReport: Encodable, Sendable {
    public struct RemovedImage: Codable, Sendable {
        public var digest: String
        public var reason: PrunePlan.Reason
        public var bytes: Int
        public var lastUsed: Date
        /// The URLs it was cached for, sorted (none for an original no URL points at any more).
        public var urls: [String]
    }
    public var dryRun = false
    /// How many images it removed, and for which reason (`PrunePlan.Reason`'s raw values).
    public var removedCount = 0
    public var removedByReason: [String: Int] = [:]
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
    public var urlsNoLongerCachedCount = 0
    public var keptInGrace = 0
    public var overMaxBytes = 0
    public var seedFilesRewritten = 0
    public var problems: [String] = []
    public var seconds = 0.0

    private let removedLog: SpoolFile<RemovedImage>
    private let urlsLog: SpoolFile<String>

    enum CodingKeys: String, CodingKey {
        case dryRun, removedCount, removedByReason, imagesBefore, bytesBefore, bytesAfter, bytesReclaimed, filesRemoved
        case thumbnailsRemoved, onDemandVariantsRemoved, urlsForgotten, urlsNoLongerCachedCount, keptInGrace, overMaxBytes
        case seedFilesRewritten, problems, seconds
    }

    init(dryRun: Bool) throws {
        self.dryRun = dryRun
        (removedLog, urlsLog) = (try SpoolFile(), try SpoolFile())
    }

    /// Each removed image in the order the plan chose it, read back from the report's spool.
    public func forEachRemoved(_ body: (RemovedImage) throws -> Void) throws { try removedLog.forEach(body) }

    /// Each URL a seed still names that lost its image, in the order its image was removed.
    public func forEachURLNoLongerCached(_ body: (String) throws -> Void) throws { try urlsLog.forEach(body) }

    /// Every removed image at once: for a small report (a test, a scheduled job's log line);
    /// a command that prints a large one walks `forEachRemoved`.
    public var removed: [RemovedImage] {
        var all: [RemovedImage] = []
        try? forEachRemoved { all.append($0) }
        return all
    }

    /// Every URL that lost its image, sorted (see `removed`).
    public var urlsNoLongerCached: [String] {
        var all: [String] = []
        try? forEachURLNoLongerCached { all.append($0) }
        return all.sorted()
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
        var referencedURLs: ReferencedURLs?
        if policy.removeUnreferenced {
            guard let unreferencedSeeds else { throw PruneError("--unreferenced needs a seeds folder") }
            referencedURLs = try Self.referencedURLs(seedsDirectory: unreferencedSeeds, bodyImages: bodyImages)
        }
        var report = try PruneReport(dryRun: dryRun)
        let staleBefore = now.addingTimeInterval(-policy.grace)
        let forgetting = referencedURLs != nil
        // The plan walks the index's images in least-recently-used order (twice for --max-size)
        // and spools its report as it decides: what is held is the removals' digests.
        if dryRun {
            try index.planPrune(referencedURLs: referencedURLs, staleBefore: staleBefore) { candidates in
                _ = try report.plan(candidates, policy: policy, now: now, forgetting: forgetting)
            }
            report.filesRemoved = report.removedCount + report.thumbnailsRemoved
        } else {
            // The plan is made inside the transaction, so it sees everything a concurrent sync committed.
            let removal = try index.prune(at: now, referencedURLs: referencedURLs, staleBefore: staleBefore, decide: { candidates in
                let (plan, digests) = try report.plan(candidates, policy: policy, now: now, forgetting: forgetting)
                return PruneDecision(digests: digests, forgetURLs: candidates.staleURLs, bytesReclaimed: plan.bytesReclaimed)
            }, removeFiles: { self.store.delete($0) })
            report.thumbnailsRemoved = removal.thumbnailsRemoved
            report.filesRemoved = removal.filesRemoved
            if report.removedCount > 0 || report.urlsForgotten > 0 { index.refreshPlannerStatistics() }
        }
        if let writeBackSeeds, !dryRun, report.urlsNoLongerCachedCount > 0 {
            var states: [String: Bool] = [:]
            try report.forEachURLNoLongerCached { states[$0] = false }
            SeedScanner.scan(directory: writeBackSeeds, batch: Self.seedBatch) { scan in
                let outcome = SeedWriteBack.apply(states, to: scan.documents)
                report.seedFilesRewritten += outcome.rewritten
                report.problems += outcome.problems
            }
        }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    /// Seed files read at a time (for `--unreferenced` and the write-back).
    static let seedBatch = 2_000

    /// Every URL the seeds under `directory` reference, read a batch of files at a time.
    /// Refuses when a seed file could not be read or parsed (its URLs would count as
    /// unreferenced) or when there are no seeds at all.
    static func referencedURLs(seedsDirectory directory: String, bodyImages: Bool) throws -> ReferencedURLs {
        var urls = ReferencedURLs()
        var documents = 0, broken = 0
        var first: SeedError?
        SeedScanner.scan(directory: directory, bodyImages: bodyImages, batch: seedBatch) { scan in
            for error in scan.errors where error.code != .noFrontMatter {
                first = first ?? error
                broken += 1
            }
            documents += scan.documents.count
            for document in scan.documents { for image in document.images { urls.insert(image.url) } }
        }
        if let first {
            throw PruneError("cannot tell what is unreferenced while a seed could not be read: \(first)"
                             + (broken > 1 ? " (and \(broken - 1) more)" : ""))
        }
        guard documents > 0 else {
            throw PruneError("no seed documents under \(directory): refusing to treat every image as unreferenced")
        }
        return urls
    }
}

extension PruneReport {
    /// Makes the plan from `candidates`, fills in its figures and spools its lists: each
    /// removal with the URLs it was cached as (read 500 images at a time, in the plan's
    /// transaction), and those URLs but the stale ones (whose rows go with `forgetting`).
    /// Returns the plan and the digests to remove.
    mutating func plan(_ candidates: PruneCandidates, policy: PrunePolicy, now: Date,
                       forgetting: Bool) throws -> (plan: PrunePlan, digests: [String]) {
        try removedLog.removeAll()
        try urlsLog.removeAll()
        var digests: [String] = []
        var batch: [PrunePlan.Removal] = []
        func spool() throws {
            let urls = try candidates.urls(batch.map(\.digest))
            for removal in batch {
                let image = RemovedImage(digest: removal.digest, reason: removal.reason, bytes: removal.bytes,
                                         lastUsed: removal.lastUsed, urls: urls[removal.digest] ?? [])
                try removedLog.append(image)
                for url in image.urls where !candidates.staleURLs.contains(url) { try urlsLog.append(url) }
            }
            batch.removeAll(keepingCapacity: true)
        }
        let plan = try PrunePlan.stream(walking: candidates.walk, policy: policy, now: now, totals: candidates.totals) { removal in
            digests.append(removal.digest)
            batch.append(removal)
            if batch.count == PruneCandidates.urlBatch { try spool() }
        }
        try spool()
        (imagesBefore, bytesBefore, bytesAfter, bytesReclaimed) = (plan.imagesBefore, plan.bytesBefore, plan.bytesAfter, plan.bytesReclaimed)
        (keptInGrace, overMaxBytes) = (plan.keptInGrace, plan.overMaxBytes)
        (thumbnailsRemoved, onDemandVariantsRemoved) = (plan.thumbnailsRemoved, plan.onDemandVariantsRemoved)
        removedCount = plan.removalCount
        removedByReason = Dictionary(uniqueKeysWithValues: plan.removalsByReason.map { ($0.key.rawValue, $0.value) })
        urlsNoLongerCachedCount = urlsLog.count
        if forgetting { urlsForgotten = candidates.staleURLs.count }
        return (plan, digests)
    }
}
