@_spi(Testing) import CacheStore
import Foundation
import ImgCacheKit
import SeedDocuments
import Synchronization
import TestSupport
import Testing

/// Prune on a real cache: a real origin, real SQLite, real files.
@Suite("imgcache prune", .serialized)
struct PruneTests {
    /// A synced cache of `paths` from a local origin.
    final class Cache: @unchecked Sendable {
        let origin: ImageOrigin
        let directory: TemporaryDirectory
        let seeds: URL
        let root: URL
        let configuration: ImgCacheKit.Configuration

        init(_ paths: [String]) throws {
            origin = try ImageOrigin()
            directory = try TemporaryDirectory()
            seeds = directory.url.appendingPathComponent("seeds")
            root = directory.url.appendingPathComponent("cache")
            configuration = SyncTests.configuration(cache: root)
            try writeSeed(paths)
            let report = try sync(writeBack: true)
            #expect(report.cached == Set(paths.filter { !$0.contains("missing") }.map { origin.url($0) }).count)
        }

        func writeSeed(_ paths: [String]) throws {
            try SeedFiles.write(seeds, urls: paths.map { (origin.url($0), nil) })
        }

        @discardableResult
        func sync(writeBack: Bool = false) throws -> SyncReport {
            let syncer = try Syncer(seedsDirectory: seeds.path, configuration: configuration)
            syncer.writeBack = writeBack
            return try syncer.run()
        }

        var pruner: Pruner { get throws { try Pruner(cacheDirectory: root.path) } }
        var index: CacheIndex { get throws { try CacheIndex(path: root.appendingPathComponent("index.sqlite").path) } }
        var store: BlobStore { get throws { try BlobStore(root: root) } }

        func source(_ path: String) throws -> SourceRecord? { try index.source(origin.url(path)) }

        func digest(_ path: String) throws -> String { try #require(try source(path)?.digest) }

        /// The files of one original and its thumbnails.
        func files(ofDigest digest: String) throws -> [String] {
            let store = try store
            return [store.objectPath(digest)] + (try index.thumbnails(digest: digest)).map { store.thumbnailPath($0) }
        }

        /// Sets when `path`'s image was last served.
        func served(_ path: String, at date: Date) throws {
            let digest = try digest(path)
            try index.testing.setLastAccess(digest, date)
        }

        /// Every file under the cache (but the SQLite files) with its size and hash, and every index row.
        func snapshot() throws -> [String] {
            var lines: [String] = []
            let enumerator = FileManager.default.enumerator(atPath: root.path)
            while let relative = enumerator?.nextObject() as? String {
                let path = root.appendingPathComponent(relative).path
                var isDirectory: ObjCBool = false
                FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
                if isDirectory.boolValue || relative.hasPrefix("index.sqlite") || relative == "removal.lock" { continue }
                let data = try Data(contentsOf: URL(fileURLWithPath: path))
                lines.append("\(relative) \(data.count) \(BlobStore.digest(data))")
            }
            lines += try index.testing.rows()
            return lines.sorted()
        }
    }

    @Test("--unreferenced removes the images no seed names (shared bytes stay while one URL needs them), after the grace period")
    func unreferenced() throws {
        let cache = try Cache(["/a.jpg", "/b.png", "/c.jpg", "/dup-1.jpg", "/dup-2.jpg"])
        let (b, c, dup) = (try cache.digest("/b.png"), try cache.digest("/c.jpg"), try cache.digest("/dup-1.jpg"))
        let removedFiles = try cache.files(ofDigest: b) + cache.files(ofDigest: c)
        let keptFiles = try cache.files(ofDigest: cache.digest("/a.jpg")) + cache.files(ofDigest: dup)
        #expect(removedFiles.count == 14 && keptFiles.count == 14)  // an original and 3 variants x 2 formats each
        try cache.writeSeed(["/a.jpg", "/dup-1.jpg"])

        // Everything was written a moment ago: the default grace period keeps it all.
        let graced = try cache.pruner.run(policy: PrunePolicy(removeUnreferenced: true), unreferencedSeeds: cache.seeds.path)
        #expect(graced.removed.isEmpty)
        #expect(graced.keptInGrace == 2)
        #expect(removedFiles.allSatisfy { FileManager.default.fileExists(atPath: $0) })

        let report = try cache.pruner.run(policy: PrunePolicy(removeUnreferenced: true, grace: 0), unreferencedSeeds: cache.seeds.path)
        #expect(Set(report.removed.map(\.digest)) == [b, c])
        #expect(report.removed.allSatisfy { $0.reason == .unreferenced })
        #expect(report.filesRemoved == 14)
        #expect(report.thumbnailsRemoved == 12)
        #expect(report.urlsForgotten == 3)  // b, c and dup-2 (whose bytes dup-1 still needs)
        #expect(report.urlsNoLongerCached.isEmpty)
        #expect(report.bytesReclaimed > 0 && report.bytesAfter == report.bytesBefore - report.bytesReclaimed)
        #expect(removedFiles.allSatisfy { !FileManager.default.fileExists(atPath: $0) })
        #expect(keptFiles.allSatisfy { FileManager.default.fileExists(atPath: $0) })
        #expect(try cache.source("/b.png") == nil && cache.source("/dup-2.jpg") == nil)
        #expect(try cache.source("/dup-1.jpg")?.isCached == true && cache.source("/a.jpg")?.isCached == true)
        let lastPrune = try cache.index.testing.metaDate(MetaKey.lastPrune)
        #expect(abs((lastPrune ?? .distantPast).timeIntervalSinceNow) < 60)
        try SyncTests.checkIntegrity(cache: cache.root)

        // An unreadable seed must not make its images look unreferenced.
        try Data([0x2D, 0x2D, 0x2D, 0x0A, 0xFF, 0xFE, 0x0A]).write(to: cache.seeds.appendingPathComponent("broken.md"))
        #expect(throws: PruneError.self) {
            try cache.pruner.run(policy: PrunePolicy(removeUnreferenced: true, grace: 0), unreferencedSeeds: cache.seeds.path)
        }
        // Nor a symbolic link that cannot be followed: the seed behind it may name any image.
        try FileManager.default.removeItem(at: cache.seeds.appendingPathComponent("broken.md"))
        try FileManager.default.createSymbolicLink(atPath: cache.seeds.appendingPathComponent("moved.md").path,
                                                   withDestinationPath: "/nonexistent/seeds/moved.md")
        let refused = try #require(throws: PruneError.self) {
            try cache.pruner.run(policy: PrunePolicy(removeUnreferenced: true, grace: 0), unreferencedSeeds: cache.seeds.path)
        }
        #expect(refused.description.contains("moved.md") && refused.description.contains("link"))
        let empty = cache.directory.url.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        #expect(throws: PruneError.self) {
            try cache.pruner.run(policy: PrunePolicy(removeUnreferenced: true, grace: 0), unreferencedSeeds: empty.path)
        }
    }

    @Test("--max-size evicts the least recently served image; isCached false is written back; the next sync restores it")
    func maxSizeWriteBackResync() throws {
        let cache = try Cache(["/a.jpg", "/b.png", "/c.jpg"])
        // Two days from now, everything is out of the grace period; serving decides the order.
        let later = Date().addingTimeInterval(2 * 86400)
        try cache.served("/a.jpg", at: later.addingTimeInterval(-10 * 3600))
        try cache.served("/b.png", at: later.addingTimeInterval(-2 * 3600))
        try cache.served("/c.jpg", at: later.addingTimeInterval(-5 * 3600))
        let (a, b, c) = (try cache.digest("/a.jpg"), try cache.digest("/b.png"), try cache.digest("/c.jpg"))
        var sizes: [String: Int] = [:]
        for digest in [a, b, c] {
            sizes[digest] = try cache.index.testing.imageBytes(digest)
        }
        let aFiles = try cache.files(ofDigest: a)
        let seedFile = cache.seeds.appendingPathComponent("article.md")
        #expect(try String(contentsOf: seedFile, encoding: .utf8).components(separatedBy: "isCached: true").count == 4)

        let report = try cache.pruner.run(policy: PrunePolicy(maxBytes: sizes[b]! + sizes[c]!), writeBackSeeds: cache.seeds.path,
                                          now: later)
        #expect(report.removed.map(\.digest) == [a])
        #expect(report.removed.first?.reason == .maxSize)
        #expect(report.removed.first?.urls == [cache.origin.url("/a.jpg")])
        #expect(report.bytesReclaimed == sizes[a]!)
        #expect(report.bytesAfter == sizes[b]! + sizes[c]!)
        #expect(report.urlsNoLongerCached == [cache.origin.url("/a.jpg")])
        #expect(report.seedFilesRewritten == 1)
        #expect(aFiles.allSatisfy { !FileManager.default.fileExists(atPath: $0) })
        let source = try #require(try cache.source("/a.jpg"))
        #expect(source.isCached == false && source.status == .pruned && source.digest == nil && source.etag == nil)
        let document = try SeedScanner.load(seedFile.path).get()
        #expect(document.images.map(\.isCached) == [false, true, true])
        try SyncTests.checkIntegrity(cache: cache.root)

        let resync = try cache.sync(writeBack: true)
        #expect(resync.fetched == 1 && resync.fresh == 2)
        #expect(resync.cached == 3)
        #expect(aFiles.allSatisfy { FileManager.default.fileExists(atPath: $0) })
        #expect(try SeedScanner.load(seedFile.path).get().images.map(\.isCached) == [true, true, true])
        try SyncTests.checkIntegrity(cache: cache.root)
    }

    @Test("--max-age removes what was neither referenced, served nor written within the age")
    func maxAge() throws {
        let cache = try Cache(["/a.jpg", "/b.png"])
        let later = Date().addingTimeInterval(40 * 86400)
        try cache.served("/b.png", at: later.addingTimeInterval(-86400))
        let a = try cache.digest("/a.jpg")
        let report = try cache.pruner.run(policy: PrunePolicy(maxAge: 30 * 86400), now: later)
        #expect(report.removed.map(\.digest) == [a])
        #expect(report.removed.map(\.reason) == [.maxAge])
        #expect(try cache.source("/a.jpg")?.isCached == false)
        #expect(try cache.source("/b.png")?.isCached == true)
        try SyncTests.checkIntegrity(cache: cache.root)
    }

    @Test("--dry-run changes nothing (files and every index row compared) and plans exactly what a real run removes")
    func dryRun() throws {
        let cache = try Cache(["/a.jpg", "/b.png", "/c.jpg"])
        let later = Date().addingTimeInterval(2 * 86400)
        try cache.served("/c.jpg", at: later)
        let before = try cache.snapshot()
        let policy = PrunePolicy(maxBytes: 1)
        let plan = try cache.pruner.run(policy: policy, writeBackSeeds: cache.seeds.path, dryRun: true, now: later)
        #expect(plan.removed.count == 2)
        #expect(plan.filesRemoved == 14)
        #expect(try cache.snapshot() == before)

        let real = try cache.pruner.run(policy: policy, writeBackSeeds: cache.seeds.path, now: later)
        #expect(real.removed.map(\.digest) == plan.removed.map(\.digest))
        #expect(real.bytesReclaimed == plan.bytesReclaimed && real.filesRemoved == plan.filesRemoved)
        #expect(try cache.snapshot() != before)
    }

    @Test("prune running again and again during a sync: no row without its file, no file a row points to removed")
    func concurrentWithSync() throws {
        for round in 0..<3 {
            let cache = try Cache(["/a.jpg", "/b.png"])
            try cache.writeSeed(["/a.jpg", "/b.png", "/c.jpg", "/dup-1.jpg", "/dup-2.jpg", "/sometimes.jpg", "/changing.jpg"])
            let done = Atomic(false)
            let syncError = Mutex<String?>(nil)
            let thread = Thread {
                do { try cache.sync() } catch { syncError.withLock { $0 = "\(error)" } }
                done.store(true, ordering: .sequentiallyConsistent)
            }
            thread.start()
            var prunes = 0
            while !done.load(ordering: .sequentiallyConsistent) {
                // Grace 0 and size 0: everything committed so far is removed while the sync runs.
                _ = try cache.pruner.run(policy: PrunePolicy(maxBytes: 0, grace: 0))
                prunes += 1
                try SyncTests.checkIntegrity(cache: cache.root)
            }
            #expect(syncError.withLock { $0 } == nil)
            #expect(prunes > 0, "round \(round)")
            try SyncTests.checkIntegrity(cache: cache.root)
            // And afterwards a sync brings every image back.
            let report = try cache.sync()
            #expect(report.cached == 7, "round \(round): \(report.results.filter { !$0.isCached })")
            try SyncTests.checkIntegrity(cache: cache.root)
        }
    }

    @Test("the binary: no rule is a usage error; --dry-run lists images; --json parses; a missing cache exits 1")
    func commandLine() throws {
        let cache = try Cache(["/a.jpg", "/b.png"])
        let usage = try Executable.run(["prune", "--cache", cache.root.path])
        #expect(usage.status == 2)
        #expect(usage.stderr.contains("nothing to do"))
        let badSize = try Executable.run(["prune", "--cache", cache.root.path, "--max-size", "huge"])
        #expect(badSize.status == 2)

        let dry = try Executable.run(["prune", "--cache", cache.root.path, "--max-size", "0", "--grace", "0s", "--dry-run"])
        #expect(dry.status == 0)
        #expect(dry.stdout.components(separatedBy: "would remove max-size").count == 3)
        #expect(dry.stdout.contains(cache.origin.url("/a.jpg")))
        #expect(dry.stderr.contains("prune (dry run): would remove 2 of 2 images"))
        #expect(try cache.source("/a.jpg")?.isCached == true)

        let real = try Executable.run(["prune", "--cache", cache.root.path, "--max-size", "0", "--grace", "0", "--json"])
        #expect(real.status == 0)
        let json = try JSONSerialization.jsonObject(with: Data(real.stdout.utf8)) as? [String: Any]
        #expect((json?["removed"] as? [Any])?.count == 2)
        #expect(json?["filesRemoved"] as? Int == 14)
        #expect(try cache.source("/a.jpg")?.isCached == false)

        let missing = try Executable.run(["prune", "--cache", cache.directory.url.appendingPathComponent("nope").path, "--max-age", "1d"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no cache index"))
    }
}
