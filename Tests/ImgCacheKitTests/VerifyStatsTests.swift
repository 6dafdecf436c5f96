@_spi(Testing) import CacheStore
import Foundation
import ImgCacheKit
import TestSupport
import Testing

@Suite("imgcache verify and stats", .serialized)
struct VerifyStatsTests {
    @Test("verify finds a flipped byte, a deleted thumbnail, an orphan and a stale temp file; --repair then sync restores them")
    func verifyRepairResync() throws {
        let cache = try PruneTests.Cache(["/a.jpg", "/b.png", "/c.jpg"])
        let clean = try Verifier(cacheDirectory: cache.root.path).run(repair: false)
        #expect(clean.isClean)
        #expect(clean.originalsChecked == 3 && clean.thumbnailsChecked == 18)  // 3 variants in WebP and the fallback
        let recorded = try cache.index.testing.recordedBytes()
        #expect(clean.bytesHashed == recorded.objects + recorded.thumbnails)

        // Damage: one byte of a's original, b's thumb file, an old orphan, a temp file of a dead process.
        let a = try cache.digest("/a.jpg"), b = try cache.digest("/b.png")
        let aPath = try cache.store.local.objectPath(a)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: aPath))
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: aPath))
        let bThumb = try #require(try cache.index.thumbnails(digest: b).first { $0.variant == "thumb" })
        try FileManager.default.removeItem(atPath: try cache.store.local.thumbnailPath(bThumb))
        let orphan = try cache.store.local.objectPath(String(repeating: "e", count: 64))
        try FileManager.default.createDirectory(atPath: (orphan as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data("stray".utf8).write(to: URL(fileURLWithPath: orphan))
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-7200)], ofItemAtPath: orphan)
        let young = try cache.store.local.objectPath(String(repeating: "f", count: 64))
        try FileManager.default.createDirectory(atPath: (young as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data("being written".utf8).write(to: URL(fileURLWithPath: young))
        let temporary = cache.root.appendingPathComponent("tmp/999999999-1")
        try Data("half".utf8).write(to: temporary)

        let found = try Verifier(cacheDirectory: cache.root.path).run(repair: false)
        #expect(found.count(.corrupt) == 1 && found.count(.missing) == 1 && found.count(.orphaned) == 1 && found.count(.temporary) == 1,
                "\(found.problems)")
        #expect(found.problems.contains { $0.kind == .corrupt && $0.path.hasSuffix(a) })
        #expect(found.problems.contains { $0.kind == .missing && $0.path.contains(bThumb.key) })
        #expect(found.problems.contains { $0.kind == .orphaned && $0.path.hasSuffix(String(repeating: "e", count: 64)) })
        #expect(!found.problems.contains { $0.path.hasSuffix(String(repeating: "f", count: 64)) })  // within the grace period
        #expect(FileManager.default.fileExists(atPath: aPath))  // without --repair nothing changes

        // The binary says so too: exit 1, one line per problem.
        let command = try Executable.run(["verify", "--cache", cache.root.path])
        #expect(command.status == 1)
        #expect(command.stdout.split(separator: "\n").count == 4)
        #expect(command.stdout.contains("corrupt original: objects/"))

        let repaired = try Verifier(cacheDirectory: cache.root.path).run(repair: true)
        #expect(repaired.repaired)
        #expect(Set(repaired.urlsNoLongerCached) == [cache.origin.url("/a.jpg"), cache.origin.url("/b.png")])
        #expect(!FileManager.default.fileExists(atPath: aPath) && !FileManager.default.fileExists(atPath: orphan))
        #expect(!FileManager.default.fileExists(atPath: temporary.path))
        #expect(try cache.source("/a.jpg")?.isCached == false && cache.source("/b.png")?.isCached == false)
        #expect(try Verifier(cacheDirectory: cache.root.path).run(repair: false).isClean)
        try SyncTests.checkIntegrity(cache: cache.root)

        let report = try cache.sync()
        #expect(report.fetched == 1, "a's original is fetched again")
        #expect(report.thumbnailsMade == 6 + 1, "a's six files (three variants, two formats) and b's missing one, remade from its original")
        #expect(report.cached == 3)
        try SyncTests.checkIntegrity(cache: cache.root)
        #expect(try Executable.run(["verify", "--cache", cache.root.path]).status == 0)
    }

    @Test("a flipped byte in a thumbnail is found by its recorded SHA-256; --repair makes it again from the original")
    func thumbnailHash() throws {
        let cache = try PruneTests.Cache(["/a.jpg", "/b.png"])
        let a = try cache.digest("/a.jpg")
        let card = try #require(try cache.index.thumbnails(digest: a).first { $0.variant == "card" })
        let path = try cache.store.local.thumbnailPath(card)
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(card.sha256 == BlobStore.digest(good))
        var bad = good
        bad[bad.count / 2] ^= 0x10  // same size: only the hash can tell
        try bad.write(to: URL(fileURLWithPath: path))

        let found = try Verifier(cacheDirectory: cache.root.path).run(repair: false)
        #expect(found.problems.count == 1)
        #expect(found.problems.first?.kind == .corrupt && found.problems.first?.item == "thumbnail")
        #expect(found.problems.first?.detail.contains("not to the hash recorded") == true)
        let command = try Executable.run(["verify", "--cache", cache.root.path])
        #expect(command.status == 1 && command.stdout.hasPrefix("corrupt thumbnail: thumbs/"))

        // Remade with the variants the cache was synced with (the test's own, not the defaults).
        let repaired = try Verifier(cacheDirectory: cache.root.path, configuration: cache.configuration).run(repair: true)
        #expect(repaired.thumbnailsRemade == 1 && repaired.urlsNoLongerCached.isEmpty)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == good)
        #expect(try cache.source("/a.jpg")?.isCached == true)
        #expect(try Executable.run(["verify", "--cache", cache.root.path]).status == 0)
    }

    @Test("garbage inside the index file: verify exits 1 naming the index, and --repair removes nothing")
    func corruptIndex() throws {
        let cache = try PruneTests.Cache(["/a.jpg", "/b.png", "/c.jpg"])
        // Enough rows that the file has pages in its middle, then everything in the main file.
        try cache.index.testing.addFillerSources(2_000)
        try cache.index.testing.checkpoint()
        let indexPath = cache.root.appendingPathComponent("index.sqlite").path
        #expect(try IndexDamage.garbleMiddle(of: indexPath) > 64 * 1024)
        let files = Set(try FileManager.default.subpathsOfDirectory(atPath: cache.root.path))

        let command = try Executable.run(["verify", "--cache", cache.root.path])
        #expect(command.status == 1)
        #expect(command.stdout.hasPrefix("corrupt index: index.sqlite: integrity check:"), "\(command.stdout)\(command.stderr)")
        #expect(command.stderr.contains("restore it from a backup"))
        let repair = try Executable.run(["verify", "--cache", cache.root.path, "--repair"])
        #expect(repair.status == 1 && repair.stderr.contains("not repaired: the index itself is damaged"))
        #expect(Set(try FileManager.default.subpathsOfDirectory(atPath: cache.root.path)).isSuperset(of: files.filter { !$0.hasPrefix("tmp") && !$0.contains("index.sqlite") }))
    }

    @Test("an index emptied to 0 bytes beside cached files is reported, not read as an empty cache")
    func lostIndex() throws {
        let cache = try PruneTests.Cache(["/a.jpg", "/b.png"])
        let indexPath = cache.root.appendingPathComponent("index.sqlite").path
        try cache.index.testing.checkpoint()
        try Data().write(to: URL(fileURLWithPath: indexPath))
        for command in ["verify", "stats", "status"] {
            let run = try Executable.run([command, "--cache", cache.root.path])
            #expect(run.status == 1, "\(command): \(run.stderr)")
            #expect(run.stderr.contains("is empty (0 bytes) but the cache holds 2 originals and 12 thumbnails"), "\(command): \(run.stderr)")
            #expect(!run.stderr.contains("Usage:"), "\(command): an i/o problem is not a usage error")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: indexPath)).isEmpty, "nothing was written into it")
    }

    @Test("stats: counts and bytes agree with the index; hits, misses, last sync and prune; the largest image first")
    func stats() throws {
        let cache = try PruneTests.Cache(["/a.jpg", "/b.png", "/c.jpg", "/missing.jpg"])
        try cache.index.testing.addToCounter(MetaKey.servedHits, 9)
        try cache.index.testing.addToCounter(MetaKey.servedMisses, 1)
        let stats = try CacheStats.load(cacheDirectory: cache.root.path)
        #expect(stats.urls == 4 && stats.imagesCached == 3 && stats.imagesFailed == 1)
        #expect(stats.originals == 3 && stats.thumbnails == 18)
        #expect(stats.variants.map(\.name) == ["card", "large", "thumb"] && stats.variants.allSatisfy { $0.count == 6 })
        // Every format counted: b is transparent (PNG fallback), a and c opaque (JPEG); WebP for all three.
        #expect(stats.formats.map(\.name) == ["jpeg", "png", "webp"])
        #expect(stats.formats.map(\.count) == [6, 3, 9])
        let (objectBytes, thumbnailBytes) = try cache.index.testing.recordedBytes()
        #expect(stats.originalBytes == objectBytes && stats.thumbnailBytes == thumbnailBytes)
        #expect(stats.hits == 9 && stats.misses == 1 && stats.hitRate == 0.9)
        #expect(abs((stats.lastSync ?? .distantPast).timeIntervalSinceNow) < 60)
        #expect(stats.lastPrune == nil)
        let sizes = try cache.index.testing.objectSizesDescending()
        #expect(stats.largest.map(\.originalBytes) == sizes)
        #expect(stats.largest.first?.url == cache.origin.url("/c.jpg"))  // the 1200x1800 photo

        _ = try cache.pruner.run(policy: PrunePolicy(maxBytes: 0, grace: 0))
        let after = try CacheStats.load(cacheDirectory: cache.root.path)
        #expect(after.originals == 0 && after.imagesPruned == 3 && after.lastPruneBytes == objectBytes + thumbnailBytes)

        let command = try Executable.run(["stats", "--cache", cache.root.path, "--json"])
        #expect(command.status == 0)
        let json = try JSONSerialization.jsonObject(with: Data(command.stdout.utf8)) as? [String: Any]
        #expect(json?["imagesPruned"] as? Int == 3 && json?["hits"] as? Int == 9)
        let text = try Executable.run(["stats", "--cache", cache.root.path])
        #expect(text.stdout.contains("served hits / misses    9 / 1 (90.0% hits)"))
    }
}
