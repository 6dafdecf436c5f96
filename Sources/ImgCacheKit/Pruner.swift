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
        let root = URL(fileURLWithPath: cacheDirectory)
        let path = root.appendingPathComponent("index.sqlite").path
        guard FileManager.default.fileExists(atPath: path) else {
            throw CacheError(.io, "no cache index at \(path): run `imgcache sync` first")
        }
        store = try BlobStore(root: root)
        index = try CacheIndex(path: path)
        removalLock = RemovalLock(cacheRoot: root)
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
        var paths: [String] = []
        var held: RemovalLock.Held?
        defer { held?.release() }

        let body = { (db: Database) throws -> Void in
            let images = try Self.loadImages(db, referencedURLs: referencedURLs)
            let plan = PrunePlan.make(images: images, policy: policy, now: now)
            let urlsByDigest = try Self.urls(db, of: plan.removals.map(\.digest))
            report.imagesBefore = plan.imagesBefore
            report.bytesBefore = plan.bytesBefore
            report.bytesAfter = plan.bytesAfter
            report.bytesReclaimed = plan.bytesReclaimed
            report.keptInGrace = plan.keptInGrace
            report.overMaxBytes = plan.overMaxBytes
            report.removed = plan.removals.map { removal in
                PruneReport.RemovedImage(digest: removal.digest, reason: removal.reason, bytes: removal.bytes,
                                         lastUsed: removal.lastUsed, urls: urlsByDigest[removal.digest] ?? [])
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
                report.thumbnailsRemoved = try Self.thumbnailCount(db, of: plan.removals.map(\.digest))
                report.filesRemoved = plan.removals.count + report.thumbnailsRemoved
                return
            }
            // Only removers take the lock exclusively, and only inside their write transaction.
            held = try self.removalLock.acquire(exclusive: true)
            paths = try Self.delete(db, plan: plan, forgetting: forgotten, store: self.store)
            report.thumbnailsRemoved = paths.count - plan.removals.count
            try CacheIndex.setMeta(db, MetaKey.lastPrune, now)
            try CacheIndex.setMeta(db, MetaKey.lastPruneBytes, plan.bytesReclaimed)
        }
        if dryRun { try index.read(body) } else { try index.write(body) }

        // Committed: now the files go. A missing file is not an error (someone removed it already).
        for path in paths where unlink(path) == 0 { report.filesRemoved += 1 }
        held?.release()

        if let writeBackSeeds, !dryRun, !report.urlsNoLongerCached.isEmpty {
            let states = Dictionary(uniqueKeysWithValues: report.urlsNoLongerCached.map { ($0, false) })
            let scan = SeedScanner.scan(directory: writeBackSeeds)
            for document in scan.documents {
                let mine = states.filter { url, _ in document.images.contains { $0.url == url } }
                guard !mine.isEmpty else { continue }
                do {
                    if try IsCachedWriter.writeBack(path: document.path, states: mine) { report.seedFilesRewritten += 1 }
                } catch {
                    report.problems.append(error.description)
                }
            }
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
            throw PruneError("cannot tell what is unreferenced while a seed file is unreadable: \(first)"
                             + (broken.count > 1 ? " (and \(broken.count - 1) more)" : ""))
        }
        guard !scan.documents.isEmpty else {
            throw PruneError("no seed documents under \(directory): refusing to treat every image as unreferenced")
        }
        return Set(scan.documents.flatMap { $0.images.map(\.url) })
    }

    /// One `PruneImage` per original, from one query over the index.
    static func loadImages(_ db: Database, referencedURLs: Set<String>?) throws -> [PruneImage] {
        var referencedDigests: Set<String> = []
        if let referencedURLs {
            let rows = try Row.fetchCursor(db, sql: "SELECT url, digest FROM sources WHERE digest IS NOT NULL")
            while let row = try rows.next() {
                if referencedURLs.contains(row["url"]) { referencedDigests.insert(row["digest"]) }
            }
        }
        let rows = try Row.fetchCursor(db, sql: """
            SELECT o.digest AS digest,
                   o.bytes + COALESCE(t.bytes, 0) AS bytes,
                   MAX(o.created_at, COALESCE(t.created, o.created_at)) AS written,
                   s.referenced AS referenced,
                   a.last_access AS served
            FROM objects o
            LEFT JOIN (SELECT digest, SUM(bytes) AS bytes, MAX(created_at) AS created FROM thumbnails GROUP BY digest) t
                ON t.digest = o.digest
            LEFT JOIN (SELECT digest, MAX(MAX(updated_at, COALESCE(referenced_at, updated_at))) AS referenced
                       FROM sources WHERE digest IS NOT NULL GROUP BY digest) s
                ON s.digest = o.digest
            LEFT JOIN access a ON a.digest = o.digest
            """)
        var images: [PruneImage] = []
        while let row = try rows.next() {
            let digest: String = row["digest"]
            images.append(PruneImage(digest: digest, bytes: row["bytes"], lastWritten: row["written"],
                                     lastReferenced: row["referenced"], lastServed: row["served"],
                                     isReferenced: referencedURLs == nil || referencedDigests.contains(digest)))
        }
        return images
    }

    /// The URLs cached as each digest.
    static func urls(_ db: Database, of digests: [String]) throws -> [String: [String]] {
        guard !digests.isEmpty else { return [:] }
        try fillWorkSet(db, digests)
        defer { try? db.execute(sql: "DROP TABLE IF EXISTS temp.prune_set") }
        var result: [String: [String]] = [:]
        let rows = try Row.fetchCursor(db, sql: "SELECT url, digest FROM sources WHERE digest IN (SELECT digest FROM temp.prune_set) ORDER BY url")
        while let row = try rows.next() { result[row["digest"], default: []].append(row["url"]) }
        return result
    }

    static func thumbnailCount(_ db: Database, of digests: [String]) throws -> Int {
        guard !digests.isEmpty else { return 0 }
        try fillWorkSet(db, digests)
        defer { try? db.execute(sql: "DROP TABLE IF EXISTS temp.prune_set") }
        return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM thumbnails WHERE digest IN (SELECT digest FROM temp.prune_set)") ?? 0
    }

    /// A temporary table of digests to join against (100,000 digests do not fit in an IN list).
    private static func fillWorkSet(_ db: Database, _ digests: [String]) throws {
        try db.execute(sql: "CREATE TEMP TABLE IF NOT EXISTS prune_set (digest TEXT PRIMARY KEY) WITHOUT ROWID")
        try db.execute(sql: "DELETE FROM temp.prune_set")
        let insert = try db.makeStatement(sql: "INSERT OR IGNORE INTO temp.prune_set (digest) VALUES (?)")
        for digest in digests { try insert.execute(arguments: [digest]) }
    }

    /// Deletes the plan's rows; returns the paths of the files to unlink after commit.
    private static func delete(_ db: Database, plan: PrunePlan, forgetting forgotten: Set<String>,
                               store: BlobStore) throws -> [String] {
        var paths: [String] = []
        if !plan.removals.isEmpty {
            try fillWorkSet(db, plan.removals.map(\.digest))
            defer { try? db.execute(sql: "DROP TABLE IF EXISTS temp.prune_set") }
            for removal in plan.removals { paths.append(store.objectPath(removal.digest)) }
            let thumbnails = try ThumbnailRecord.fetchCursor(db, sql: """
                SELECT * FROM thumbnails WHERE digest IN (SELECT digest FROM temp.prune_set)
                """)
            while let thumbnail = try thumbnails.next() { paths.append(store.thumbnailPath(thumbnail)) }
            // The URLs stay (a seed still names them) but are no longer cached: the next sync
            // fetches them again, unconditionally.
            try db.execute(sql: """
                UPDATE sources SET digest = NULL, is_cached = 0, status = 'pruned', etag = NULL, last_modified = NULL,
                                   expires_at = NULL, last_error = NULL
                WHERE digest IN (SELECT digest FROM temp.prune_set)
                """)
            try db.execute(sql: "DELETE FROM access WHERE digest IN (SELECT digest FROM temp.prune_set)")
            // Thumbnails go with their object (ON DELETE CASCADE).
            try db.execute(sql: "DELETE FROM objects WHERE digest IN (SELECT digest FROM temp.prune_set)")
        }
        if !forgotten.isEmpty {
            let statement = try db.makeStatement(sql: "DELETE FROM sources WHERE url = ?")
            for url in forgotten { try statement.execute(arguments: [url]) }
        }
        return paths
    }
}
