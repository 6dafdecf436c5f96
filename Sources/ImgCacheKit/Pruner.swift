import CacheStore
import Foundation
import GRDB
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
    public let store: BlobStore
    public let index: CacheIndex
    let removalLock: RemovalLock

    /// Opens an existing cache (prune never creates one).
    public init(cacheDirectory: String) throws(CacheError) {
        index = try CacheIndex.existing(inCache: cacheDirectory)
        store = try BlobStore(root: URL(fileURLWithPath: cacheDirectory))
        removalLock = RemovalLock(cacheRoot: store.root)
    }

    public init(store: BlobStore, index: CacheIndex) {
        self.store = store
        self.index = index
        removalLock = RemovalLock(cacheRoot: store.root)
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
            referencedURLs = try Self.referencedURLs(seedsDirectory: unreferencedSeeds)
        }

        var report = PruneReport()
        report.dryRun = dryRun
        // Plans (and, unless a dry run, deletes the rows); returns the files to unlink.
        let body = { (db: Database) throws -> [String] in
            // A larger page cache for this one pass over the whole index (32 MB: fewer re-reads at
            // 100,000 images, peak memory still under 200 MB).
            try db.execute(sql: "PRAGMA cache_size = -32768")
            defer { try? db.execute(sql: "PRAGMA cache_size = -2000") }
            let inventory = try Self.loadInventory(db, referencedURLs: referencedURLs)
            let plan = PrunePlan.make(images: inventory.images, policy: policy, now: now)
            report.imagesBefore = plan.imagesBefore
            report.bytesBefore = plan.bytesBefore
            report.bytesAfter = plan.bytesAfter
            report.bytesReclaimed = plan.bytesReclaimed
            report.keptInGrace = plan.keptInGrace
            report.overMaxBytes = plan.overMaxBytes
            report.removed = plan.removals.map { removal in
                PruneReport.RemovedImage(digest: removal.digest, reason: removal.reason, bytes: removal.bytes,
                                         lastUsed: removal.lastUsed, urls: (inventory.urls[removal.digest] ?? []).sorted())
            }
            // URLs no seed references any more lose their rows (outside the grace period).
            var forgotten: Set<String> = []
            if let referencedURLs {
                let cutoff = now.addingTimeInterval(-policy.grace)
                let rows = try Row.fetchAll(db, sql: """
                    SELECT url FROM sources WHERE MAX(updated_at, COALESCE(referenced_at, updated_at)) < ?
                    """, arguments: [cutoff])
                forgotten = Set(rows.map { $0["url"] as String }.filter { !referencedURLs.contains($0) })
                report.urlsForgotten = forgotten.count
            }
            report.urlsNoLongerCached = Set(report.removed.flatMap(\.urls)).subtracting(forgotten).sorted()

            if dryRun {
                report.thumbnailsRemoved = plan.removals.reduce(0) { $0 + (inventory.thumbnailCounts[$1.digest] ?? 0) }
                report.filesRemoved = plan.removals.count + report.thumbnailsRemoved
                return []
            }
            // URLs no seed names lose their rows first, so the images' update touches only the rest.
            let statement = try db.makeStatement(sql: "DELETE FROM sources WHERE url = ?")
            for url in forgotten.sorted() { try statement.execute(arguments: [url]) }
            let paths = try CacheIndex.deleteImages(db, digests: plan.removals.map(\.digest), store: self.store,
                                                    status: "pruned", lastError: nil)
            report.thumbnailsRemoved = paths.count - plan.removals.count
            try CacheIndex.setMeta(db, MetaKey.lastPrune, now)
            try CacheIndex.setMeta(db, MetaKey.lastPruneBytes, plan.bytesReclaimed)
            return paths
        }
        if dryRun {
            _ = try index.read(body)
        } else {
            (_, report.filesRemoved) = try index.removingFiles(lock: removalLock) { db in ((), try body(db)) }
        }

        if let writeBackSeeds, !dryRun, !report.urlsNoLongerCached.isEmpty {
            let states = Dictionary(uniqueKeysWithValues: report.urlsNoLongerCached.map { ($0, false) })
            let scan = SeedScanner.scan(directory: writeBackSeeds)
            let (rewritten, problems) = IsCachedWriter.writeBack(scan.documents, states: states)
            report.seedFilesRewritten = rewritten
            report.problems += problems.map(\.description)
        }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    /// Every URL the seeds under `directory` reference. Refuses when a seed file could not be
    /// read or parsed (its URLs would count as unreferenced) or when there are no seeds at all.
    static func referencedURLs(seedsDirectory directory: String) throws -> Set<String> {
        let scan = SeedScanner.scan(directory: directory)
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

    /// Everything the plan needs, from four sequential scans (one per table, dates as Julian
    /// days): on 100,000 images that is several times faster than one query joining
    /// aggregates, which reads the thumbnails in index order, one random page at a time.
    struct Inventory {
        var images: [PruneImage] = []
        /// The URLs cached as each digest.
        var urls: [String: [String]] = [:]
        /// Thumbnail rows of each digest.
        var thumbnailCounts: [String: Int] = [:]
    }

    static func loadInventory(_ db: Database, referencedURLs: Set<String>?) throws -> Inventory {
        func date(_ julianDay: Double) -> Date { Date(timeIntervalSince1970: (julianDay - 2_440_587.5) * 86_400) }
        var position: [String: Int] = [:]
        var inventory = Inventory()
        let objects = try Row.fetchCursor(db, sql: "SELECT digest, bytes, julianday(created_at) FROM objects")
        while let row = try objects.next() {
            let digest: String = row[0]
            position[digest] = inventory.images.count
            inventory.images.append(PruneImage(digest: digest, bytes: row[1], lastWritten: date(row[2]),
                                               isReferenced: referencedURLs == nil))
        }
        let thumbnails = try Row.fetchCursor(db, sql: "SELECT digest, bytes, julianday(created_at) FROM thumbnails")
        while let row = try thumbnails.next() {
            let digest: String = row[0]
            guard let at = position[digest] else { continue }
            inventory.thumbnailCounts[digest, default: 0] += 1
            inventory.images[at].bytes += row[1] as Int
            inventory.images[at].lastWritten = max(inventory.images[at].lastWritten, date(row[2]))
        }
        let sources = try Row.fetchCursor(db, sql: """
            SELECT digest, url, julianday(MAX(updated_at, COALESCE(referenced_at, updated_at))) FROM sources WHERE digest IS NOT NULL
            """)
        while let row = try sources.next() {
            let digest: String = row[0], url: String = row[1]
            guard let at = position[digest] else { continue }
            let referenced = date(row[2])
            inventory.images[at].lastReferenced = max(inventory.images[at].lastReferenced ?? .distantPast, referenced)
            if referencedURLs?.contains(url) == true { inventory.images[at].isReferenced = true }
            inventory.urls[digest, default: []].append(url)
        }
        let access = try Row.fetchCursor(db, sql: "SELECT digest, julianday(last_access) FROM access")
        while let row = try access.next() {
            guard let at = position[row[0] as String] else { continue }
            inventory.images[at].lastServed = date(row[1])
        }
        return inventory
    }
}
