import CacheStore
import Dispatch
import Foundation
import Synchronization

/// What `imgcache verify` found (and, with `--repair`, fixed).
public struct VerifyReport: Codable, Sendable {
    public struct Problem: Codable, Hashable, Sendable {
        public enum Kind: String, Codable, Sendable {
            /// A row whose file is not there.
            case missing
            /// An original or thumbnail whose bytes do not hash to what the index recorded, or the index file itself.
            case corrupt
            /// A file in the cache that no row points at.
            case orphaned
            /// A temporary file left by a process that is no longer running.
            case temporary
        }
        public var kind: Kind
        /// "original", "thumbnail", "index" or "temporary".
        public var item: String
        /// The path relative to the cache folder.
        public var path: String
        public var detail: String
    }
    public var originalsChecked = 0
    public var thumbnailsChecked = 0
    /// Thumbnails whose rows predate recorded hashes (index v5): only their size was checked.
    public var thumbnailsSizeOnly = 0
    public var bytesHashed = 0
    public var problems: [Problem] = []
    public var repaired = false
    /// Thumbnails `--repair` made again from their originals.
    public var thumbnailsRemade = 0
    /// Why `--repair` changed nothing (a damaged index is never repaired from).
    public var repairRefused: String?
    /// URLs that are no longer cached after the repair (the next sync brings them back).
    public var urlsNoLongerCached: [String] = []
    public var seconds = 0.0

    public var isClean: Bool { problems.isEmpty }
    public func count(_ kind: Problem.Kind) -> Int { problems.filter { $0.kind == kind }.count }
}

/// Checks the index file (SQLite's integrity check), re-hashes every original and every
/// thumbnail against the hash recorded when it was written, and looks for files without rows
/// and rows without files. Hashing runs on every core, reading in 1 MB blocks.
public final class Verifier: Sendable {
    public let store: any BlobStorage
    public let index: any IndexStorage
    /// The variants thumbnails are remade with (a thumbnail whose recipe is no longer configured is removed instead).
    let configuration: Configuration

    public convenience init(cacheDirectory: String, configuration: Configuration = Configuration()) throws(CacheError) {
        var located = configuration
        located.cacheDirectory = cacheDirectory
        self.init(try Cache.open(located, for: .reading))
    }

    public init(_ cache: Cache) {
        index = cache.index
        store = cache.store
        configuration = cache.configuration
    }

    /// - Parameters:
    ///   - grace: files younger than this are not called orphans (a sync writes a file just before its row).
    ///   - jobs: hashing threads (default: one per core).
    public func run(repair: Bool, grace: TimeInterval = PrunePolicy.defaultGrace, jobs: Int? = nil, pageSize: Int = 1000,
                    progress: @escaping @Sendable (_ hashed: Int, _ total: Int) -> Void = { _, _ in }) throws -> VerifyReport {
        let started = Date()
        var report = VerifyReport()
        let indexProblems = index.integrityProblems()
        for line in indexProblems {
            report.problems.append(.init(kind: .corrupt, item: "index", path: "index.sqlite", detail: "integrity check: \(line)"))
        }
        // Rows a page at a time, hashed a page at a time: what is held is one page of checks.
        let totals = try index.totals()
        let total = totals.objects + totals.thumbnails
        var done = 0
        let check = { (checks: [HashCheck], report: inout VerifyReport) in
            let offset = done
            let (problems, hashed) = Self.hash(checks, in: self.store, jobs: jobs) { finished, _ in progress(offset + finished, total) }
            report.problems += problems.map { .init(kind: .corrupt, item: $0.check.item, path: $0.check.key.relativePath, detail: $0.detail) }
            report.bytesHashed += hashed
            done += checks.count
        }
        var after: String?
        while case let objects = try index.objectsPage(after: after, limit: pageSize), let last = objects.last {
            check(originalChecks(objects, report: &report), &report)
            after = last.digest
        }
        after = nil
        while case let thumbnails = try index.thumbnailsPage(after: after, limit: pageSize), let last = thumbnails.last {
            check(thumbnailChecks(thumbnails, report: &report), &report)
            after = last.key
        }
        report.problems += try strayFiles(grace: grace)
        report.problems.sort { ($0.kind.rawValue, $0.path) < ($1.kind.rawValue, $1.path) }

        if repair && !report.isClean {
            if !indexProblems.isEmpty {
                report.repairRefused = "the index itself is damaged: nothing is removed or remade from what it says"
            } else {
                (report.urlsNoLongerCached, report.thumbnailsRemade) = try self.repair(report.problems)
                report.repaired = true
            }
        }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    /// What to re-hash of a page of originals: every one that is stored (one that is not is
    /// reported missing).
    private func originalChecks(_ objects: [(digest: String, bytes: Int)], report: inout VerifyReport) -> [HashCheck] {
        var checks: [HashCheck] = []
        for object in objects {
            let key = BlobKey.original(object.digest)
            if store.exists(key) {
                checks.append(HashCheck(key: key, item: "original", sha256: object.digest, bytes: object.bytes, expected: "to its name"))
            } else {
                report.problems.append(.init(kind: .missing, item: "original", path: key.relativePath,
                                             detail: "the index lists sha256:\(object.digest.prefix(16)) but the file is gone"))
            }
        }
        report.originalsChecked += checks.count
        return checks
    }

    /// What to re-hash of a page of thumbnail rows; rows from before recorded hashes are checked by size.
    private func thumbnailChecks(_ thumbnails: [ThumbnailRecord], report: inout VerifyReport) -> [HashCheck] {
        var checks: [HashCheck] = []
        for thumbnail in thumbnails {
            let key = thumbnail.blobKey
            guard store.exists(key) else {
                report.problems.append(.init(kind: .missing, item: "thumbnail", path: key.relativePath,
                                             detail: "\(thumbnail.variant) of sha256:\(thumbnail.digest.prefix(16)) is in the index but the file is gone"))
                continue
            }
            report.thumbnailsChecked += 1
            if let sha256 = thumbnail.sha256 {
                checks.append(HashCheck(key: key, item: "thumbnail", sha256: sha256, bytes: thumbnail.bytes,
                                        expected: "to the hash recorded when it was written"))
            } else {
                report.thumbnailsSizeOnly += 1
                if let bytes = store.hash(key)?.bytes, bytes != thumbnail.bytes {
                    report.problems.append(.init(kind: .corrupt, item: "thumbnail", path: key.relativePath,
                                                 detail: "\(bytes) bytes, the index says \(thumbnail.bytes)"))
                }
            }
        }
        return checks
    }

    /// Blobs no row points at (older than the grace period: a sync writes files before rows),
    /// a batch of the store's listing at a time, and temporary files whose writer is gone.
    private func strayFiles(grace: TimeInterval) throws(CacheError) -> [VerifyReport.Problem] {
        let cutoff = Date().addingTimeInterval(-grace)
        var problems: [VerifyReport.Problem] = []
        try store.list { batch in
            let old = batch.filter { $0.modified < cutoff }
            guard !old.isEmpty else { return }
            let known = try index.knownBlobs(originals: old.filter(\.key.isOriginal).map(\.key.name),
                                             thumbnails: old.filter { !$0.key.isOriginal }.map(\.key.name))
            for blob in old where !known.contains(blob.key.name) {
                problems.append(.init(kind: .orphaned, item: blob.key.isOriginal ? "original" : "thumbnail",
                                      path: blob.key.relativePath, detail: "no index row points at it"))
            }
        }
        for path in store.abandonedTemporaryFiles() {
            problems.append(.init(kind: .temporary, item: "temporary", path: path, detail: "left by a process that is no longer running"))
        }
        return problems
    }

    /// One file to re-hash and what it must hash to.
    struct HashCheck: Sendable {
        var key: BlobKey
        var item: String
        var sha256: String
        var bytes: Int
        /// What its hash should have matched, for the problem's text.
        var expected: String
    }

    /// Re-hashes `checks` on `jobs` threads; returns what did not match and the bytes read.
    static func hash(_ checks: [HashCheck], in store: any BlobStorage, jobs: Int?, progress: @escaping @Sendable (Int, Int) -> Void)
        -> (problems: [(check: HashCheck, detail: String)], bytes: Int) {
        let results = Mutex<[(check: HashCheck, detail: String)]>([])
        let finished = Atomic<Int>(0)
        let hashed = Atomic<Int>(0)
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: max(1, jobs ?? ProcessInfo.processInfo.activeProcessorCount)) { _ in
            while true {
                let position = next.add(1, ordering: .relaxed).oldValue
                guard position < checks.count else { return }
                let check = checks[position]
                let detail: String?
                if let (digest, bytes) = store.hash(check.key) {
                    hashed.add(bytes, ordering: .relaxed)
                    if digest != check.sha256 {
                        detail = "its bytes hash to sha256:\(digest.prefix(16)), not \(check.expected)"
                    } else {
                        detail = bytes == check.bytes ? nil : "\(bytes) bytes, the index says \(check.bytes)"
                    }
                } else {
                    detail = "cannot be read"
                }
                if let detail { results.withLock { $0.append((check, detail)) } }
                progress(finished.add(1, ordering: .relaxed).newValue, checks.count)
            }
        }
        return (results.withLock { $0 }.sorted { $0.check.key.relativePath < $1.check.key.relativePath }, hashed.load(ordering: .relaxed))
    }
}
