@testable import CacheStore
import Dispatch
import Foundation
import Synchronization
import TestSupport
import Testing

/// The index backends the conformance suite runs against. A new backend is one case here:
/// every test below then holds it to the behaviour sync, prune, verify and serve rely on.
/// `postgres` is a real PostgreSQL the tests start (skipped, and said so, where it is not
/// installed; CI requires it).
enum IndexBackend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    static var available: [IndexBackend] {
        PostgresServer.shared != nil || TestServers.required ? allCases : [.sqlite]
    }

    /// A fresh, empty index in `folder` (SQLite) or in a new database.
    func open(in folder: TemporaryDirectory) throws -> any IndexStorage {
        switch self {
        case .sqlite: return try CacheIndex(cacheDirectory: folder.path)
        case .postgres:
            guard let server = PostgresServer.shared else { throw CacheError(.database, PostgresServer.skipReason) }
            return try PostgresIndex(PostgresLocation.parse(try server.makeDatabase()))
        }
    }

    /// A second handle on the same index (another process's view: its own connections).
    func reopen(_ index: any IndexStorage, in folder: TemporaryDirectory) throws -> any IndexStorage {
        switch self {
        case .sqlite: return try CacheIndex(cacheDirectory: folder.path)
        case .postgres: return try PostgresIndex((index as! PostgresIndex).location)
        }
    }
}

/// The blob backends, likewise. `s3` is a real SeaweedFS the tests start (skipped, and said
/// so, where it is not installed; CI requires it).
enum BlobBackend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case local
    case s3

    var testDescription: String { rawValue }

    static var available: [BlobBackend] {
        SeaweedFS.shared != nil || TestServers.required ? allCases : [.local]
    }

    func open(in folder: TemporaryDirectory) throws -> any BlobStorage {
        switch self {
        case .local: return try BlobStore(root: folder.url)
        case .s3: return try S3Fixture.store()
        }
    }
}

enum S3Fixture {
    /// A store in a new bucket of the shared SeaweedFS, under a prefix.
    static func store(prefix: String = "site/cache") throws -> S3BlobStore {
        guard let server = SeaweedFS.shared else { throw CacheError(.io, SeaweedFS.skipReason) }
        let store = S3BlobStore(S3Location(endpoint: server.endpoint, bucket: server.bucket, prefix: SeaweedFS.uniquePrefix() + "/" + prefix,
                                           accessKey: server.accessKey, secretKey: server.secretKey))
        try store.createBucketIfMissing()
        return store
    }
}

/// An image as sync records it: original + two thumbnails, files stored first.
struct SampleImage {
    let url: String
    let original: Data
    var digest: String { BlobStore.digest(original) }
    var object: ObjectRecord { ObjectRecord(digest: digest, bytes: original.count, format: .jpeg, width: 40, height: 30) }
    var thumbnails: [ThumbnailRecord] {
        ["thumb", "card"].map { variant in
            let data = thumbnailData(variant)
            return ThumbnailRecord(key: BlobStore.digest(digest + variant), digest: digest, variant: variant, width: 20, height: 15,
                                   format: variant == "thumb" ? .webp : .jpeg, bytes: data.count, sha256: BlobStore.digest(data))
        }
    }
    func thumbnailData(_ variant: String) -> Data { Data("\(variant) of \(url)".utf8) }

    init(_ name: String, bytes: Data? = nil) {
        url = "https://example.com/\(name).jpg"
        original = bytes ?? Data("original bytes of \(name)".utf8)
    }

    func fetched() -> FetchedImage {
        FetchedImage(url: url, object: object, thumbnails: thumbnails, etag: "\"e\"", lastModified: nil,
                     expiresAt: Date().addingTimeInterval(3600), declaredWidth: 40, declaredHeight: 30,
                     decodedWidth: 40, decodedHeight: 30)
    }

    /// Stores the files, then records them, as sync does.
    @discardableResult
    func record(in index: any IndexStorage, blobs: any BlobStorage) throws -> (duplicate: Bool, isCached: Bool) {
        try blobs.put(original, as: .original(digest))
        for record in thumbnails { try blobs.put(thumbnailData(record.variant), as: record.blobKey) }
        return try index.recordFetched(fetched(), ensureFiles: {}, isCached: { true })
    }
}

@Suite("Index storage: the behaviour every backend must have")
struct IndexConformanceTests {
    @Test("a fetched image is recorded whole: its URL ok and cached, its original and every thumbnail", arguments: IndexBackend.available)
    func recordsFetched(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let index = try backend.open(in: folder), blobs = try BlobStore(root: folder.url)
        let image = SampleImage("a")
        let before = try index.generation()
        let outcome = try image.record(in: index, blobs: blobs)
        #expect(outcome.isCached && !outcome.duplicate)
        let source = try #require(try index.source(image.url))
        #expect(source.status == .ok && source.isCached && source.digest == image.digest && source.etag == "\"e\"")
        #expect(try index.object(image.digest)?.format == .jpeg)
        #expect(Set(try index.thumbnails(digest: image.digest).map(\.key)) == Set(image.thumbnails.map(\.key)))
        #expect(try index.thumbnail(key: image.thumbnails[0].key)?.format == .webp)
        #expect(try index.generation() > before)
        let totals = try index.totals()
        #expect(totals.objects == 1 && totals.objectBytes == image.original.count && totals.thumbnails == 2)
    }

    @Test("the same bytes under a second URL are a duplicate, stored once", arguments: IndexBackend.available)
    func duplicates(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let index = try backend.open(in: folder), blobs = try BlobStore(root: folder.url)
        let bytes = Data("shared".utf8)
        try SampleImage("a", bytes: bytes).record(in: index, blobs: blobs)
        #expect(try SampleImage("b", bytes: bytes).record(in: index, blobs: blobs).duplicate)
        #expect(try index.totals().objects == 1 && index.allSources().count == 2)
    }

    @Test("when ensureFiles throws nothing is recorded", arguments: IndexBackend.available)
    func ensureFilesFailureRollsBack(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let index = try backend.open(in: folder)
        let image = SampleImage("a")
        #expect(throws: CacheError.self) {
            try index.recordFetched(image.fetched(), ensureFiles: { throw CacheError(.io, "disk full") }, isCached: { true })
        }
        #expect(try index.source(image.url) == nil && index.object(image.digest) == nil && index.allThumbnails().isEmpty)
    }

    @Test("a failure keeps the cached copy; a batch of failures of new URLs records them uncached", arguments: IndexBackend.available)
    func failures(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let index = try backend.open(in: folder), blobs = try BlobStore(root: folder.url)
        let image = SampleImage("a")
        try image.record(in: index, blobs: blobs)
        var checked: [String] = []
        let outcome = try index.recordFailure(SourceFailure(url: image.url, reason: "http status: 500", kind: .httpStatus,
                                                            declaredWidth: 40, declaredHeight: 30)) {
            digest, thumbnails in
            checked = thumbnails.map(\.key)
            return digest == image.digest
        }
        #expect(outcome.isCached && outcome.digest == image.digest && Set(checked) == Set(image.thumbnails.map(\.key)))
        let failed = try #require(try index.source(image.url))
        #expect(failed.status == .failed && failed.lastError == "http status: 500" && failed.digest == image.digest)
        #expect(failed.failureKind == .httpStatus, "the kind is read back as the enum it was recorded as")

        try index.recordFailures([SourceFailure(url: "https://example.com/new.jpg", reason: "timeout", kind: .timeout, declaredWidth: nil, declaredHeight: nil),
                                  SourceFailure(url: image.url, reason: "again", kind: .other, declaredWidth: nil, declaredHeight: nil)])
        let new = try #require(try index.source("https://example.com/new.jpg"))
        #expect(new.status == .failed && !new.isCached && new.digest == nil && new.failureKind == .timeout)
        // A URL cached meanwhile keeps its copy and its isCached.
        let again = try #require(try index.source(image.url))
        #expect(again.isCached && again.digest == image.digest && again.lastError == "again" && again.failureKind == .other)
        #expect(try index.statistics(largest: 1).urlsByStatus[.failed] == 2)
        // A success clears the kind with the message.
        try image.record(in: index, blobs: blobs)
        let fixed = try #require(try index.source(image.url))
        #expect(fixed.status == .ok && fixed.lastError == nil && fixed.failureKind == nil)
    }

    @Test("revalidating adds thumbnails only while the original is indexed", arguments: IndexBackend.available)
    func revalidation(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let index = try backend.open(in: folder), blobs = try BlobStore(root: folder.url)
        let image = SampleImage("a")
        try image.record(in: index, blobs: blobs)
        var update = Revalidation(url: image.url, digest: image.digest, declaredWidth: 41, declaredHeight: 30, isCached: false)
        update.validators = ("\"f\"", "Tue, 01 Dec 2026 00:00:00 GMT", Date().addingTimeInterval(60))
        update.placeholder = ("LKO2?U%2Tw=w]~RBVZRi};RPxuwH", "#808080")
        update.colorProfile = "Display P3 (converted to sRGB)"
        try index.recordRevalidated(update, ensureFiles: {})
        let source = try #require(try index.source(image.url))
        #expect(source.etag == "\"f\"" && source.declaredWidth == 41 && !source.isCached && source.status == .ok)
        let object = try #require(try index.object(image.digest))
        #expect(object.dominantColor == "#808080" && object.colorProfile == "Display P3 (converted to sRGB)")

        var orphan = Revalidation(url: "https://example.com/gone.jpg", digest: String(repeating: "0", count: 64),
                                  declaredWidth: nil, declaredHeight: nil, isCached: true)
        orphan.newThumbnails = [ThumbnailRecord(key: "k", digest: orphan.digest, variant: "thumb", width: 1, height: 1, format: .png, bytes: 1)]
        #expect(throws: CacheError.self) { try index.recordRevalidated(orphan, ensureFiles: {}) }
        #expect(try index.thumbnail(key: "k") == nil)
    }

    @Test("prune removes whole images: rows, access times, then exactly their files", arguments: IndexBackend.available)
    func prune(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let index = try backend.open(in: folder), blobs = try BlobStore(root: folder.url)
        let kept = SampleImage("kept"), removed = SampleImage("removed")
        try kept.record(in: index, blobs: blobs)
        try removed.record(in: index, blobs: blobs)
        try index.replaceSeedReferences([SeedReference(seedPath: "a.md", url: kept.url, line: 3)])
        let served = Date().addingTimeInterval(-5)
        let generation = try index.generation()
        try index.recordAccess([removed.digest: served, kept.digest: served], hits: 2, misses: 1)
        #expect(try index.generation() == generation, "the access ledger does not move the generation")

        let later = Date().addingTimeInterval(7200)
        let inventory = try index.pruneInventory(referencedURLs: [kept.url], staleBefore: later)
        #expect(inventory.images.count == 2 && inventory.images.first { $0.digest == removed.digest }?.thumbnails == 2)
        #expect(inventory.images.first { $0.digest == kept.digest }?.isReferenced == true)
        #expect(inventory.images.first { $0.digest == removed.digest }?.isReferenced == false)
        #expect(inventory.images.allSatisfy { abs(($0.lastServed ?? .distantPast).timeIntervalSince(served)) < 1 })
        #expect(inventory.staleURLs == [removed.url])

        var deleted: [BlobKey] = []
        let removal = try index.prune(at: later, referencedURLs: [kept.url], staleBefore: later, decide: { candidates in
            // The report's URLs, read in the prune's own transaction.
            let urls = try candidates.urls([removed.digest, kept.digest, "absent"])
            #expect(urls == [removed.digest: [removed.url], kept.digest: [kept.url]])
            return PruneDecision(digests: [removed.digest], forgetURLs: [], bytesReclaimed: 123)
        }, removeFiles: { keys in
            deleted = keys
            return blobs.delete(keys)
        })
        #expect(Set(deleted) == Set([BlobKey.original(removed.digest)] + removed.thumbnails.map(\.blobKey)))
        #expect(removal.thumbnailsRemoved == 2 && removal.filesRemoved == 3)
        #expect(try index.object(removed.digest) == nil && index.thumbnails(digest: removed.digest).isEmpty)
        let source = try #require(try index.source(removed.url))
        #expect(source.status == .pruned && source.digest == nil && !source.isCached && source.etag == nil)
        #expect(try index.object(kept.digest) != nil && index.source(kept.url)?.isCached == true)
        #expect(try index.lastPrune().map { abs($0.timeIntervalSince(later)) < 1 } == true)
        #expect(try index.statistics(largest: 5).lastPruneBytes == 123)
        #expect(try !index.pruneInventory(referencedURLs: nil, staleBefore: later).images.contains { $0.digest == removed.digest })
        #expect(!blobs.exists(.original(removed.digest)) && blobs.exists(.original(kept.digest)))
    }

    @Test("a sync's catalog reads a URL named by 150 seeds as its first 100 places and the first that declare its size",
          arguments: IndexBackend.available)
    func referencesPerURL(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let index = try backend.open(in: folder)
        var references = (0..<150).map { n in
            SeedReference(seedPath: String(format: "posts/%03d.md", n), url: "https://img.example/logo.png", line: 2,
                          width: n == 129 ? 64 : nil, height: n >= 139 ? 48 : nil)
        }
        references += [SeedReference(seedPath: "a.md", url: "https://img.example/a.jpg", line: 3),
                       SeedReference(seedPath: "b.md", url: "https://img.example/a.jpg", line: 4, width: 300)]
        try index.replaceSeedReferences(references.shuffled())
        let urls = ["https://img.example/logo.png", "https://img.example/a.jpg"]
        let capped = try index.seedReferences(urls: urls, perURL: 100)
        let logo = capped.filter { $0.url == urls[0] }
        #expect(logo.map(\.seedPath) == (0..<100).map { String(format: "posts/%03d.md", $0) } + ["posts/129.md", "posts/139.md"])
        #expect(capped.filter { $0.url == urls[1] }.map(\.seedPath) == ["a.md", "b.md"], "a URL under the cap: every place")
        #expect(try index.seedReferences(urls: urls).count == 152, "without a cap: every place")
        let declared = try index.seedReferences(urls: [urls[0]], perURL: 140)
        #expect(declared.count == 140, "the width (the 130th) and the height (the 140th) are within the first 140")
    }

    @Test("ReferencedURLs holds what was inserted and nothing else (10,000 URLs against 10,000 others)")
    func referencedURLs() {
        let named = (0..<10_000).map { "https://img.example/a/\($0).jpg" }
        let set = ReferencedURLs(named)
        #expect(named.allSatisfy(set.contains))
        #expect(!(0..<10_000).contains { set.contains("https://img.example/b/\($0).jpg") })
        #expect(ReferencedURLs().isEmpty && !set.isEmpty)
    }

    @Test("prune forgets the rows of URLs no seed names", arguments: IndexBackend.available)
    func pruneForgets(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let index = try backend.open(in: folder)
        try index.recordFailures([SourceFailure(url: "https://example.com/old.jpg", reason: "404", kind: .other, declaredWidth: nil, declaredHeight: nil)])
        _ = try index.prune(at: Date(), referencedURLs: [], staleBefore: Date().addingTimeInterval(60), decide: { inventory in
            PruneDecision(digests: [], forgetURLs: inventory.staleURLs, bytesReclaimed: 0)
        }, removeFiles: { _ in Issue.record("no files to remove"); return 0 })
        #expect(try index.source("https://example.com/old.jpg") == nil)
    }

    @Test("repair removes damaged images and unclaimed orphans, never a blob a row claims", arguments: IndexBackend.available)
    func repair(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let index = try backend.open(in: folder), blobs = try BlobStore(root: folder.url)
        let damaged = SampleImage("damaged"), sound = SampleImage("sound")
        try damaged.record(in: index, blobs: blobs)
        try sound.record(in: index, blobs: blobs)
        let stray = BlobKey.original(String(repeating: "a", count: 64))
        try blobs.put(Data("stray".utf8), as: stray)
        var removedKeys: [BlobKey] = []
        let urls = try index.removeDamaged(originals: [damaged.digest], thumbnails: [], orphans: [stray, .original(sound.digest)],
                                           reason: "damaged", removeFiles: { removedKeys = $0; return blobs.delete($0) })
        #expect(urls == [damaged.url])
        #expect(removedKeys.contains(stray) && !removedKeys.contains(.original(sound.digest)))
        #expect(blobs.exists(.original(sound.digest)) && !blobs.exists(stray))
        let source = try #require(try index.source(damaged.url))
        #expect(source.status == .pending && source.lastError == "damaged" && source.digest == nil)

        var thumbnail = sound.thumbnails[0]
        thumbnail.bytes = 99
        var wrote = false
        #expect(try index.replaceThumbnail(thumbnail) { wrote = true })
        #expect(try wrote && index.thumbnail(key: thumbnail.key)?.bytes == 99)
        #expect(try !index.replaceThumbnail(damaged.thumbnails[0]) { Issue.record("a removed thumbnail is not written") })
    }

    @Test("contents and statistics agree with what was recorded", arguments: IndexBackend.available)
    func reads(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let index = try backend.open(in: folder), blobs = try BlobStore(root: folder.url)
        let a = SampleImage("a"), b = SampleImage("b", bytes: Data(repeating: 7, count: 500))
        try a.record(in: index, blobs: blobs)
        try b.record(in: index, blobs: blobs)
        try index.replaceSeedReferences([SeedReference(seedPath: "z.md", url: a.url, line: 1),
                                         SeedReference(seedPath: "y.md", url: a.url, line: 9),
                                         SeedReference(seedPath: "y.md", url: a.url, line: 12)])
        let contents = try index.contents()
        #expect(contents.sources.map(\.url) == [a.url, b.url])
        #expect(contents.references[a.url]?.map(\.seedPath) == ["y.md", "z.md"])
        #expect(contents.references[a.url]?.map(\.line) == [9, 1], "one row per seed and URL: its first line")
        #expect(contents.objects.count == 2 && contents.thumbnails[b.digest]?.count == 2)
        let stats = try index.statistics(largest: 1)
        #expect(stats.urls == 2 && stats.urlsCached == 2 && stats.originals == 2)
        #expect(stats.largest.map(\.digest) == [b.digest] && stats.largest[0].url == b.url)
        #expect(stats.thumbnailsByFormat.map(\.name) == ["jpeg", "webp"])
        let files = try index.storedFiles()
        #expect(files.objects.count == 2 && files.thumbnails.count == 4)
        #expect(try index.thumbnails(url: a.url) { digest in [BlobStore.digest(digest + "card"), "missing"] }.map(\.variant) == ["card"])
        try index.checkReadable()
        #expect(index.integrityProblems().isEmpty)
        #expect(index.storageBytes > 0)
    }

    @Test("a writer waits while a removal deletes its files, then restores what it needs", arguments: IndexBackend.available)
    func removalLockOrdersWriters(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let index = try backend.open(in: folder), writer = try backend.reopen(index, in: folder)
        let blobs = try BlobStore(root: folder.url)
        let image = SampleImage("contended")
        try image.record(in: index, blobs: blobs)
        let events = Mutex<[String]>([])
        let writerDone = DispatchSemaphore(value: 0)
        _ = try index.prune(at: Date(), referencedURLs: nil, staleBefore: .distantPast, decide: { _ in
            PruneDecision(digests: [image.digest], forgetURLs: [], bytesReclaimed: 0)
        }, removeFiles: { keys in
            // Rows are committed; a writer of the same image starts now, from another connection.
            DispatchQueue.global().async {
                _ = try? writer.recordFetched(image.fetched(), ensureFiles: {
                    events.withLock { $0.append("writer checks files") }
                    try blobs.put(image.original, as: .original(image.digest))
                    for record in image.thumbnails { try blobs.put(image.thumbnailData(record.variant), as: record.blobKey) }
                }, isCached: { true })
                writerDone.signal()
            }
            usleep(300_000)
            events.withLock { $0.append("files deleted") }
            return blobs.delete(keys)
        })
        #expect(writerDone.wait(timeout: .now() + 20) == .success)
        #expect(events.withLock { $0 } == ["files deleted", "writer checks files"])
        #expect(try index.source(image.url)?.isCached == true && blobs.exists(.original(image.digest)))
    }

    @Test("one sync lease per index: a second taker is told who holds it, or waits for its release", arguments: IndexBackend.available)
    func syncLease(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let index = try backend.open(in: folder), other = try backend.reopen(index, in: folder)
        let first = SyncLeaseHolder(host: "node-a.example", pid: 4242, since: Date(timeIntervalSince1970: 1_800_000_000))
        let lease = try index.acquireSyncLease(first, wait: false, waiting: { _ in Issue.record("the first taker waited") })
        #expect(try other.syncLeaseHolder() == first)

        let refused = #expect(throws: CacheError.self) {
            _ = try other.acquireSyncLease(.current(), wait: false, waiting: { _ in })
        }
        #expect(refused?.code == .leaseHeld)
        #expect(refused?.message.contains("node-a.example (pid 4242) since 2027-01-15T08:00:00Z") == true)

        // A waiting taker is told whom it waits for, and gets the lease once it is released.
        let waitedFor = Mutex<SyncLeaseHolder?>(nil)
        let taken = DispatchSemaphore(value: 0)
        let second = SyncLeaseHolder(host: "node-b.example", pid: 7, since: Date())
        DispatchQueue.global().async {
            let lease = try? other.acquireSyncLease(second, wait: true, waiting: { holder in waitedFor.withLock { $0 = holder } })
            let held = lease != nil
            lease?.release()
            if held { taken.signal() }
        }
        let deadline = Date().addingTimeInterval(20)
        while waitedFor.withLock({ $0 }) == nil && Date() < deadline { usleep(10_000) }
        #expect(waitedFor.withLock { $0 } == first)
        #expect(taken.wait(timeout: .now() + 0.3) == .timedOut, "the lease was taken twice")
        lease.release()
        #expect(taken.wait(timeout: .now() + 20) == .success)
        #expect(try index.syncLeaseHolder() == second)
        // Released twice is harmless; the lease is free again.
        lease.release()
        try index.acquireSyncLease(.current(), wait: false, waiting: { _ in }).release()
    }
}

@Suite("Blob storage: the behaviour every backend must have")
struct BlobConformanceTests {
    @Test("put, get, exists, hash, list and delete by key", arguments: BlobBackend.available)
    func roundTrip(backend: BlobBackend) throws {
        let folder = try TemporaryDirectory()
        let blobs = try backend.open(in: folder)
        let data = Data((0..<3000).map { UInt8($0 % 251) })
        let original = BlobKey.original(BlobStore.digest(data))
        let thumbnail = BlobKey.thumbnail(BlobStore.digest("t"), fileExtension: "webp")
        #expect(!blobs.exists(original))
        try blobs.put(data, as: original)
        try blobs.put(data, as: original)  // twice: harmless
        try blobs.put(Data("thumb".utf8), as: thumbnail)
        #expect(try blobs.exists(original) && blobs.get(original) == data)
        #expect(blobs.hash(original)?.digest == original.name && blobs.hash(original)?.bytes == 3000)
        let listed = try blobs.list()
        #expect(Set(listed.map(\.key)) == [original, thumbnail])
        #expect(listed.first { $0.key == thumbnail }?.bytes == 5)
        #expect(blobs.delete([original, original, .original(String(repeating: "f", count: 64))]) == 1)
        #expect(!blobs.exists(original) && blobs.hash(original) == nil)
        #expect(throws: CacheError.self) { try blobs.get(original) }
        #expect(blobs.abandonedTemporaryFiles().isEmpty)
    }

    @Test("a blob key's path names the key back; other paths name nothing")
    func keyPaths() {
        let digest = BlobStore.digest("x")
        for key in [BlobKey.original(digest), .thumbnail(digest, fileExtension: "avif")] {
            #expect(BlobKey(relativePath: key.relativePath) == key)
            #expect(key.relativePath.hasPrefix((key.isOriginal ? "objects/" : "thumbs/") + digest.prefix(2) + "/" + digest.dropFirst(2).prefix(2) + "/"))
        }
        for path in ["objects/\(digest)", "tmp/1-2", "objects/zz/yy/\(digest)", "thumbs/\(digest.prefix(2))/\(digest.dropFirst(2).prefix(2))/\(digest)"] {
            #expect(BlobKey(relativePath: path) == nil, "\(path)")
        }
    }
}

@Suite("S3 object store (SeaweedFS)", .enabled(if: SeaweedFS.shared != nil || TestServers.required, Comment(rawValue: SeaweedFS.skipReason)))
struct ObjectStoreTests {
    @Test("signatures are checked: a wrong secret is refused, and says so")
    func wrongSecret() throws {
        let good = try S3Fixture.store()
        var location = good.location
        location.secretKey = "not the secret"
        let bad = S3BlobStore(location)
        let key = BlobKey.original(BlobStore.digest("x"))
        try good.put(Data("x".utf8), as: key)
        #expect(!bad.exists(key))
        let error = try #require(throws: CacheError.self) { try bad.get(key) }
        #expect(error.message.contains("HTTP 403") && error.message.contains("SignatureDoesNotMatch"))
        #expect(!error.message.contains("not the secret"), "credentials never appear in errors")
    }

    @Test("keys live under <prefix>/objects/ab/cd and <prefix>/thumbs; a listing spans pages")
    func layoutAndPaging() throws {
        let store = try S3Fixture.store(prefix: "p")
        let keys = (0..<1005).map { BlobKey.thumbnail(BlobStore.digest("\($0)"), fileExtension: "jpg") }
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for index in stride(from: worker, to: keys.count, by: 8) {
                do { try store.put(Data([UInt8(index % 256)]), as: keys[index]) } catch { failures.withLock { $0.append("\(error)") } }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0.prefix(3) })")
        #expect(Set(try store.list().map(\.key)) == Set(keys))
        let raw = try store.perform("GET", path: "/\(store.location.bucket)/\(store.location.prefix)/" + keys[0].relativePath)
        #expect(store.location.prefix.hasSuffix("/p"))
        #expect(raw.status == 200 && keys[0].relativePath.hasPrefix("thumbs/"))
    }

    @Test("an unreachable endpoint is a clear error naming it")
    func unreachable() throws {
        let port = TestServers.freePort()
        let store = S3BlobStore(S3Location(endpoint: "http://127.0.0.1:\(port)", bucket: "b", accessKey: "a", secretKey: "s"),
                                timeoutSeconds: 5)
        let error = try #require(throws: CacheError.self) { try store.put(Data("x".utf8), as: .original(BlobStore.digest("x"))) }
        #expect(error.message.contains("127.0.0.1:\(port)"))
    }

    @Test("s3:// locations: bucket, prefix, endpoint, region and credentials from the environment")
    func parsing() throws {
        let environment = ["AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret",
                           "AWS_REGION": "eu-west-1"]
        let location = try S3Location.parse("s3://images/site/cache/", environment: environment)
        #expect(location.bucket == "images" && location.prefix == "site/cache" && location.region == "eu-west-1")
        #expect(location.objectKey(.original("abcdef")) == "site/cache/objects/ab/cd/abcdef")
        #expect(!location.description.contains("secret"))
        #expect(throws: CacheError.self) { try S3Location.parse("s3://images", environment: [:]) }
        #expect(throws: CacheError.self) { try S3Location.parse("https://images", environment: environment) }
        #expect(throws: CacheError.self) { try S3Location.parse("s3://bad_bucket!", environment: environment) }
    }
}

@Suite("File errors keep their errno", .serialized)
struct FileErrorTests {
    @Test("a blob written to a full disk says disk full, to a read-only one permission denied (errno kept, not text)")
    func diskFullAndReadOnly() throws {
        let folder = try TemporaryDirectory()
        let full = folder.url.appendingPathComponent("full")
        try FileManager.default.createDirectory(at: full, withIntermediateDirectories: true)
        guard try SmallFileSystem.mount("1m", at: full) else { return }
        defer { SmallFileSystem.unmount(full) }
        let store = try BlobStore(root: full)
        let tooBig = Data(count: 2 << 20)
        let error = try #require(throws: CacheError.self) { try store.put(tooBig, as: .original(BlobStore.digest(tooBig))) }
        #expect(error.errno == ENOSPC && FailureKind(error) == .diskFull)
        #expect(error.description.hasPrefix("disk full: ") && error.description.contains("No space left on device"), "\(error)")

        let readOnly = folder.url.appendingPathComponent("ro")
        try FileManager.default.createDirectory(at: readOnly, withIntermediateDirectories: true)
        guard try SmallFileSystem.mount("1m", at: readOnly, readOnly: true) else { return }
        defer { SmallFileSystem.unmount(readOnly) }
        let blocked = try #require(throws: CacheError.self) { _ = try BlobStore(root: readOnly) }
        #expect(FailureKind(blocked) == .permissionDenied, "\(blocked) errno \(String(describing: blocked.errno))")
        #expect(blocked.description.hasPrefix("permission denied: "), "\(blocked)")
        // Other failures stay what they were.
        #expect(FailureKind(CacheError(.database, "locked")) == .cacheIndex && FailureKind(CacheError(.io, "gone")) == .cacheIO)
    }
}
