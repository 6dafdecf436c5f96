import CacheStore
import Dispatch
import Foundation
import GRDB
import Synchronization

/// What `imgcache verify` found (and, with `--repair`, fixed).
public struct VerifyReport: Codable, Sendable {
    public struct Problem: Codable, Hashable, Sendable {
        public enum Kind: String, Codable, Sendable {
            /// A row whose file is not there.
            case missing
            /// An original whose bytes do not hash to its name, or a thumbnail of the wrong size.
            case corrupt
            /// A file in the cache that no row points at.
            case orphaned
            /// A temporary file left by a process that is no longer running.
            case temporary
        }
        public var kind: Kind
        /// "original", "thumbnail" or "temporary".
        public var item: String
        /// The path relative to the cache folder.
        public var path: String
        public var detail: String
    }
    public var originalsChecked = 0
    public var thumbnailsChecked = 0
    public var bytesHashed = 0
    public var problems: [Problem] = []
    public var repaired = false
    /// URLs that are no longer cached after the repair (the next sync brings them back).
    public var urlsNoLongerCached: [String] = []
    public var seconds = 0.0

    public var isClean: Bool { problems.isEmpty }
    public func count(_ kind: Problem.Kind) -> Int { problems.filter { $0.kind == kind }.count }
}

/// Re-hashes every original, checks every thumbnail's size, and looks for files without rows
/// and rows without files. Hashing runs on every core, reading in 1 MB blocks.
public final class Verifier: Sendable {
    public let store: BlobStore
    public let index: CacheIndex
    let removalLock: RemovalLock

    public init(cacheDirectory: String) throws(CacheError) {
        index = try CacheIndex.existing(inCache: cacheDirectory)
        store = try BlobStore(root: URL(fileURLWithPath: cacheDirectory))
        removalLock = RemovalLock(cacheRoot: store.root)
    }

    /// - Parameters:
    ///   - grace: files younger than this are not called orphans (a sync writes a file just before its row).
    ///   - jobs: hashing threads (default: one per core).
    public func run(repair: Bool, grace: TimeInterval = PrunePolicy.defaultGrace, jobs: Int? = nil,
                    progress: @escaping @Sendable (_ hashed: Int, _ originals: Int) -> Void = { _, _ in }) throws -> VerifyReport {
        let started = Date()
        var report = VerifyReport()
        let (objects, thumbnails) = try index.read { db in
            (try Row.fetchAll(db, sql: "SELECT digest, bytes FROM objects").map { (digest: $0["digest"] as String, bytes: $0["bytes"] as Int) },
             try ThumbnailRecord.fetchAll(db))
        }
        let root = store.root.path + "/"
        func relative(_ path: String) -> String { path.hasPrefix(root) ? String(path.dropFirst(root.count)) : path }

        // Originals: hash in parallel.
        let objectFiles = Set(files(under: "objects"))
        let present = objects.filter { objectFiles.contains(store.objectPath($0.digest)) }
        for object in objects where !objectFiles.contains(store.objectPath(object.digest)) {
            report.problems.append(.init(kind: .missing, item: "original", path: relative(store.objectPath(object.digest)),
                                         detail: "the index lists sha256:\(object.digest.prefix(16)) but the file is gone"))
        }
        let results = Mutex<[(String, String?)]>([])
        let finished = Atomic<Int>(0)
        let hashed = Atomic<Int>(0)
        let workers = max(1, jobs ?? ProcessInfo.processInfo.activeProcessorCount)
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while true {
                let position = next.add(1, ordering: .relaxed).oldValue
                guard position < present.count else { return }
                let object = present[position]
                let path = store.objectPath(object.digest)
                let problem: String?
                if let (digest, bytes) = BlobStore.digest(ofFile: path) {
                    hashed.add(bytes, ordering: .relaxed)
                    if digest != object.digest {
                        problem = "its bytes hash to sha256:\(digest.prefix(16)), not to its name"
                    } else if bytes != object.bytes {
                        problem = "\(bytes) bytes, the index says \(object.bytes)"
                    } else {
                        problem = nil
                    }
                } else {
                    problem = "cannot be read"
                }
                if let problem { results.withLock { $0.append((object.digest, problem)) } }
                progress(finished.add(1, ordering: .relaxed).newValue, present.count)
            }
        }
        for (digest, problem) in results.withLock({ $0 }).sorted(by: { $0.0 < $1.0 }) {
            report.problems.append(.init(kind: .corrupt, item: "original", path: relative(store.objectPath(digest)), detail: problem ?? ""))
        }
        report.originalsChecked = present.count
        report.bytesHashed = hashed.load(ordering: .relaxed)

        // Thumbnails: a key names a recipe, not content, so the check is the recorded size.
        let thumbnailFiles = Set(files(under: "thumbs"))
        for thumbnail in thumbnails {
            let path = store.thumbnailPath(thumbnail)
            if !thumbnailFiles.contains(path) {
                report.problems.append(.init(kind: .missing, item: "thumbnail", path: relative(path),
                                             detail: "\(thumbnail.variant) of sha256:\(thumbnail.digest.prefix(16)) is in the index but the file is gone"))
            } else {
                let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
                if size != thumbnail.bytes {
                    report.problems.append(.init(kind: .corrupt, item: "thumbnail", path: relative(path),
                                                 detail: "\(size) bytes, the index says \(thumbnail.bytes)"))
                }
                report.thumbnailsChecked += 1
            }
        }

        // Files no row points at (older than the grace period: a sync writes files before rows).
        let known = Set(objects.map { store.objectPath($0.digest) } + thumbnails.map { store.thumbnailPath($0) })
        let cutoff = Date().addingTimeInterval(-grace)
        for path in (objectFiles.union(thumbnailFiles)).subtracting(known).sorted() where modified(path) < cutoff {
            report.problems.append(.init(kind: .orphaned, item: path.hasPrefix(root + "objects/") ? "original" : "thumbnail",
                                         path: relative(path), detail: "no index row points at it"))
        }
        // Temporary files whose writer is gone.
        for path in store.abandonedTemporaryFiles() {
            report.problems.append(.init(kind: .temporary, item: "temporary", path: relative(path),
                                         detail: "left by a process that is no longer running"))
        }

        if repair && !report.isClean {
            report.urlsNoLongerCached = try self.repair(report.problems)
            report.repaired = true
        }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    /// Removes corrupt originals (with their thumbnails and rows), rows of missing files,
    /// orphans and temporary files, with the same protocol as prune: rows in one transaction,
    /// then files, under the removal lock. Returns the URLs that are no longer cached.
    private func repair(_ problems: [VerifyReport.Problem]) throws -> [String] {
        let root = store.root
        func absolute(_ relative: String) -> String { root.appendingPathComponent(relative).path }
        let badOriginals = Set(problems.filter { $0.item == "original" && ($0.kind == .corrupt || $0.kind == .missing) }
            .map { URL(fileURLWithPath: $0.path).lastPathComponent })
        let badThumbnails = problems.filter { $0.item == "thumbnail" && ($0.kind == .corrupt || $0.kind == .missing) }
            .map { URL(fileURLWithPath: $0.path).deletingPathExtension().lastPathComponent }
        let (urls, _) = try index.removingFiles(lock: removalLock) { db -> (result: [String], paths: [String]) in
            var urls: Set<String> = []
            var paths: [String] = []
            for digest in badOriginals {
                urls.formUnion(try String.fetchAll(db, sql: "SELECT url FROM sources WHERE digest = ?", arguments: [digest]))
            }
            paths += try CacheIndex.deleteImages(db, digests: badOriginals.sorted(), store: store, status: "pending",
                                                 lastError: "verify --repair removed its damaged original")
            for key in badThumbnails {
                guard let thumbnail = try ThumbnailRecord.fetchOne(db, key: key) else { continue }
                urls.formUnion(try String.fetchAll(db, sql: "SELECT url FROM sources WHERE digest = ?", arguments: [thumbnail.digest]))
                paths.append(store.thumbnailPath(thumbnail))
                try db.execute(sql: "UPDATE sources SET is_cached = 0 WHERE digest = ?", arguments: [thumbnail.digest])
                try thumbnail.delete(db)
            }
            // Orphans: only if still without a row now that no writer can add one.
            for problem in problems where problem.kind == .orphaned {
                let name = URL(fileURLWithPath: problem.path).deletingPathExtension().lastPathComponent
                let claimed = problem.item == "original" ? try ObjectRecord.exists(db, key: name) : try ThumbnailRecord.exists(db, key: name)
                if !claimed { paths.append(absolute(problem.path)) }
            }
            return (urls.sorted(), paths)
        }
        for problem in problems where problem.kind == .temporary { unlink(absolute(problem.path)) }
        return urls
    }

    /// Regular files two fan-out levels under `folder` (objects/ab/cd/name).
    private func files(under folder: String) -> [String] {
        var paths: [String] = []
        let base = store.root.appendingPathComponent(folder).path
        let manager = FileManager.default
        for first in (try? manager.contentsOfDirectory(atPath: base)) ?? [] {
            for second in (try? manager.contentsOfDirectory(atPath: base + "/" + first)) ?? [] {
                let directory = base + "/" + first + "/" + second
                for name in (try? manager.contentsOfDirectory(atPath: directory)) ?? [] {
                    paths.append(directory + "/" + name)
                }
            }
        }
        return paths
    }

    private func modified(_ path: String) -> Date {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date ?? .distantFuture
    }
}
