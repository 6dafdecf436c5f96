@_spi(Testing) import CacheStore
import Foundation
import ImageCore
import ImgCacheKit
import SeedDocuments
import Synchronization
import TestSupport
import Testing

/// The incremental sync: unchanged seed files are not read, a cached, fresh and complete image
/// costs no look, and what an incremental sync leaves in the index is what a full one would,
/// on SQLite and on PostgreSQL.
@Suite("Incremental sync", .serialized)
struct IncrementalSyncTests {
    enum Backend: String, CaseIterable, Sendable {
        case sqlite, postgres
    }

    /// A configuration for a cache in `folder` on `backend`; nil when PostgreSQL is not installed
    /// (said as a skip) and not required.
    static func configuration(_ backend: Backend, cache folder: URL) throws -> ImgCacheKit.Configuration? {
        var configuration = SyncTests.configuration(cache: folder)
        configuration.bodyImages = true
        guard backend == .postgres else { return configuration }
        guard let server = PostgresServer.shared else {
            if TestServers.required { throw TestServerError(PostgresServer.skipReason) }
            print("skipped: \(PostgresServer.skipReason)")
            return nil
        }
        configuration.index = try PostgresLocation.parse(try server.makeDatabase())
        return configuration
    }

    /// Two caches on `backend` in `folder`, to sync the same seeds two ways (nil: a skip, as `configuration`).
    static func twoCaches(_ backend: Backend, in folder: TemporaryDirectory, _ first: String,
                          _ second: String) throws -> (ImgCacheKit.Configuration, ImgCacheKit.Configuration)? {
        guard let a = try configuration(backend, cache: folder.url.appendingPathComponent(first)),
              let b = try configuration(backend, cache: folder.url.appendingPathComponent(second)) else { return nil }
        return (a, b)
    }

    static func sync(_ seeds: URL, _ configuration: ImgCacheKit.Configuration, full: Bool = false,
                     writeBack: Bool = false) throws -> SyncReport {
        let syncer = try Syncer(seedsDirectory: seeds.path, configuration: configuration)
        syncer.full = full
        syncer.writeBack = writeBack
        return try syncer.run()
    }

    /// What a sync leaves in the index, as lines to compare: every source's state and every
    /// seed reference with what it declares.
    static func snapshot(_ configuration: ImgCacheKit.Configuration) throws -> [String] {
        let index = try Cache.open(configuration, for: .reading).index
        let contents = try index.contents()
        var lines = contents.sources.map { source in
            "source \(source.url) \(source.status) cached=\(source.isCached) digest=\(source.digest ?? "-") "
                + "declared=\(source.declaredWidth ?? -1)x\(source.declaredHeight ?? -1) error=\(source.lastError ?? "-")"
        }
        for reference in try index.seedReferences(urls: contents.sources.map(\.url)) {
            lines.append("reference \(reference.seedPath) \(reference.url) line=\(reference.line) "
                         + "\(reference.width ?? -1)x\(reference.height ?? -1) declared=\(String(describing: reference.declaredCached)) "
                         + "body=\(reference.inBody)")
        }
        return lines.sorted()
    }

    /// What a report says of the seeds and images, less timings and what was fetched.
    static func outcome(_ report: SyncReport) -> String {
        "seeds=\(report.seedsRead) images=\(report.images) cached=\(report.cached) failed=\(report.failed) "
            + "problems=\(report.seedProblems.sorted())"
    }

    static func write(_ text: String, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    /// Seeds in every form, with a body image, a file that is not a seed, and a shared URL.
    static func writeSeeds(_ seeds: URL, origin: ImageOrigin) throws {
        try FileManager.default.createDirectory(at: seeds.appendingPathComponent("posts"), withIntermediateDirectories: true)
        try SeedFiles.write(seeds, name: "a.md", urls: [(origin.url("/a.jpg"), "300x225"), (origin.url("/b.png"), nil)])
        try SeedFiles.write(seeds, name: "posts/b.md", urls: [(origin.url("/c.jpg"), "1800x1200"), (origin.url("/a.jpg"), nil)])
        try SeedFiles.write(seeds, name: "c.md", urls: [(origin.url("/still.gif"), nil)])
        try write("""
            +++
            title = "TOML"
            [[images]]
            url = "\(origin.url("/moving.gif"))"
            isCached = false
            +++
            Body ![inline](\(origin.url("/pic.bmp"))).
            """, to: seeds.appendingPathComponent("posts/d.md"))
        try write("just notes, no front matter\n", to: seeds.appendingPathComponent("notes.txt"))
    }

    /// The same edits, for both caches: one changed (a new URL, a new declared size), one
    /// removed, one added, one rewritten with the same bytes, a non-seed changed.
    static func edit(_ seeds: URL, origin: ImageOrigin) throws {
        try SeedFiles.write(seeds, name: "a.md", urls: [(origin.url("/a.jpg"), "600x450"), (origin.url("/missing.jpg"), nil)])
        try FileManager.default.removeItem(at: seeds.appendingPathComponent("c.md"))
        try SeedFiles.write(seeds, name: "posts/e.md", urls: [(origin.url("/photo.tiff"), nil), (origin.url("/b.png"), "162x150")])
        let b = seeds.appendingPathComponent("posts/b.md")
        try Data(contentsOf: b).write(to: b)
        try write("other notes\n", to: seeds.appendingPathComponent("notes.txt"))
    }

    @Test("after the same edits, an incremental sync leaves the index a full sync leaves", arguments: Backend.allCases)
    func incrementalMatchesFull(_ backend: Backend) throws {
        let origin = try ImageOrigin()
        let directory = try TemporaryDirectory()
        let seeds = directory.url.appendingPathComponent("seeds")
        guard let incremental = try Self.configuration(backend, cache: directory.url.appendingPathComponent("incremental")),
              let full = try Self.configuration(backend, cache: directory.url.appendingPathComponent("full")) else { return }
        try Self.writeSeeds(seeds, origin: origin)
        let first = try Self.sync(seeds, incremental)
        #expect(first.seedsRead == 4 && first.seedsChanged == 5 && first.images == 6 && first.cached == 6, "\(first)")
        _ = try Self.sync(seeds, full, full: true)
        #expect(try Self.snapshot(incremental) == Self.snapshot(full))

        // Nothing changed: no file read, no request, every image fresh without a look.
        let requests = origin.origin.requests.count
        let again = try Self.sync(seeds, incremental)
        #expect(again.seedsChanged == 0 && again.fresh == 6 && again.cached == 6 && again.results.isEmpty, "\(again)")
        #expect(origin.origin.requests.count == requests)
        #expect(Self.outcome(again) == Self.outcome(first))

        try Self.edit(seeds, origin: origin)
        let edited = try Self.sync(seeds, incremental)
        let fullEdited = try Self.sync(seeds, full, full: true)
        #expect(edited.seedsChanged == 3 && edited.seedsRemoved == 1, "a.md, e.md and notes.txt read; c.md gone: \(edited)")
        #expect(Self.outcome(edited) == Self.outcome(fullEdited))
        #expect(edited.failed == 1 && edited.seedProblems.contains { $0.contains("notes.txt") })
        let incrementalIndex = try Self.snapshot(incremental), fullIndex = try Self.snapshot(full)
        #expect(incrementalIndex == fullIndex)
        #expect(incrementalIndex.contains { $0.hasPrefix("reference \(seeds.path)/a.md \(origin.url("/a.jpg")) ") && $0.contains(" 600x450 ") })
        #expect(!incrementalIndex.contains { $0.contains("/c.md ") }, "the removed file's references are gone")
        #expect(incrementalIndex.contains { $0.contains(origin.url("/pic.bmp")) && $0.hasSuffix("body=true") })
    }

    @Test("a sync works a window of URLs at a time: windows of 4 give what one window gives (report, results by URL, index)",
          arguments: Backend.allCases)
    func windows(_ backend: Backend) throws {
        let origin = try ImageOrigin()
        let folder = try TemporaryDirectory()
        let seeds = folder.url.appendingPathComponent("seeds")
        let paths = ImageOrigin.images.keys.sorted() + ["/missing.jpg"]
        for (number, chunk) in paths.chunked(3).enumerated() {
            try SeedFiles.write(seeds, name: "s\(number).md", urls: chunk.map { (origin.url($0), nil) })
        }
        guard let (one, small) = try Self.twoCaches(backend, in: folder, "one", "small") else { return }
        let whole = try Self.sync(seeds, one)
        let syncer = try Syncer(seedsDirectory: seeds.path, configuration: small)
        syncer.window = 4
        let progress = Mutex<[SyncProgress]>([])
        let windowed = try syncer.run(progress: { snapshot in progress.withLock { $0.append(snapshot) } })

        #expect(paths.count > 4 * syncer.window / 2 && whole.failed == 1 && whole.cached == paths.count - 1)
        #expect(Self.outcome(windowed) == Self.outcome(whole))
        #expect((windowed.fetched, windowed.failed, windowed.thumbnailsMade) == (whole.fetched, whole.failed, whole.thumbnailsMade))
        let urls = windowed.results.map(\.url)
        #expect(urls == paths.map(origin.url).sorted() && urls == whole.results.map(\.url), "each URL once, in URL order")
        #expect(windowed.results.map(\.isCached) == whole.results.map(\.isCached))
        #expect(try Self.snapshot(small) == Self.snapshot(one))
        let seen = progress.withLock { $0 }
        #expect(seen.allSatisfy { $0.total == paths.count } && seen.map(\.finished).max() == paths.count,
                "progress counts on across windows: \(seen.map(\.finished))")
    }

    @Test("more URLs read now than the sync keeps: it looks at every referenced URL, and the index ends as it would",
          arguments: Backend.allCases)
    func manyURLsReadNow(_ backend: Backend) throws {
        let origin = try ImageOrigin()
        let folder = try TemporaryDirectory()
        let seeds = folder.url.appendingPathComponent("seeds")
        try Self.writeSeeds(seeds, origin: origin)
        guard let (kept, many) = try Self.twoCaches(backend, in: folder, "kept", "many") else { return }
        _ = try Self.sync(seeds, kept)
        _ = try Self.sync(seeds, many)
        try Self.edit(seeds, origin: origin)
        let incremental = try Self.sync(seeds, kept)
        let syncer = try Syncer(seedsDirectory: seeds.path, configuration: many)
        (syncer.readNowLimit, syncer.window) = (1, 3)
        let everything = try syncer.run()
        #expect(Self.outcome(everything) == Self.outcome(incremental))
        #expect(incremental.results.count < everything.results.count && everything.results.count == everything.images,
                "kept: only what is due; past the limit: every referenced URL")
        #expect(try Self.snapshot(many) == Self.snapshot(kept))
    }

    @Test("a cached, fresh, complete image is not looked at: a thumbnail removed by hand comes back with --full only")
    func freshImagesCostNoLook() throws {
        let origin = try ImageOrigin()
        let directory = try TemporaryDirectory()
        let seeds = directory.url.appendingPathComponent("seeds"), cache = directory.url.appendingPathComponent("cache")
        let configuration = SyncTests.configuration(cache: cache)
        try SeedFiles.write(seeds, name: "a.md", urls: [(origin.url("/a.jpg"), nil)])
        _ = try Self.sync(seeds, configuration)
        let index = try CacheIndex(path: cache.appendingPathComponent("index.sqlite").path)
        let thumbnail = try #require(try index.allThumbnails().first)
        let store = try BlobStore(root: cache)
        try FileManager.default.removeItem(atPath: store.thumbnailPath(thumbnail))

        let incremental = try Self.sync(seeds, configuration)
        #expect(incremental.thumbnailsMade == 0 && incremental.results.isEmpty && incremental.cached == 1)
        #expect(!FileManager.default.fileExists(atPath: store.thumbnailPath(thumbnail)))
        let full = try Self.sync(seeds, configuration, full: true)
        #expect(full.thumbnailsMade == 1 && full.seedsChanged == 1, "\(full)")
        #expect(FileManager.default.fileExists(atPath: store.thumbnailPath(thumbnail)))
    }

    @Test("other renditions (a variant added) make every image due once; then none is")
    func renditionsChange() throws {
        let origin = try ImageOrigin()
        let directory = try TemporaryDirectory()
        let seeds = directory.url.appendingPathComponent("seeds"), cache = directory.url.appendingPathComponent("cache")
        var configuration = SyncTests.configuration(cache: cache)
        try SeedFiles.write(seeds, name: "a.md", urls: [(origin.url("/a.jpg"), nil), (origin.url("/b.png"), nil)])
        _ = try Self.sync(seeds, configuration)
        configuration.variants.append(Variant(name: "tiny", spec: ThumbnailSpec(box: Size(width: 16, height: 16), fit: .inside)))
        let added = try Self.sync(seeds, configuration)
        let files = try #require(configuration.variants.last).renditions.count  // one per format
        #expect(added.seedsChanged == 0 && added.thumbnailsMade == 2 * files && added.cached == 2, "\(added)")
        let after = try Self.sync(seeds, configuration)
        #expect(after.thumbnailsMade == 0 && after.results.isEmpty && after.cached == 2)
    }

    @Test("write-back reaches files that were not read again, and the files it wrote are not read again", arguments: Backend.allCases)
    func writeBackOfUnreadFiles(_ backend: Backend) throws {
        let origin = try ImageOrigin()
        let directory = try TemporaryDirectory()
        let seeds = directory.url.appendingPathComponent("seeds")
        guard let configuration = try Self.configuration(backend, cache: directory.url.appendingPathComponent("cache")) else { return }
        try SeedFiles.write(seeds, name: "a.md", urls: [(origin.url("/a.jpg"), nil)])
        try SeedFiles.write(seeds, name: "b.md", urls: [(origin.url("/b.png"), nil), (origin.url("/missing.jpg"), nil)])
        _ = try Self.sync(seeds, configuration)
        let before = try String(contentsOf: seeds.appendingPathComponent("a.md"), encoding: .utf8)

        // Both files unchanged since the last sync; their isCached: false is now out of date.
        let written = try Self.sync(seeds, configuration, writeBack: true)
        #expect(written.seedsChanged == 0 && written.seedFilesRewritten == 2, "\(written)")
        let after = try String(contentsOf: seeds.appendingPathComponent("a.md"), encoding: .utf8)
        #expect(after == before.replacingOccurrences(of: "isCached: false", with: "isCached: true"))
        let b = try String(contentsOf: seeds.appendingPathComponent("b.md"), encoding: .utf8)
        #expect(b.components(separatedBy: "isCached: true").count == 2 && b.contains("isCached: false"), "missing.jpg stays false")

        let next = try Self.sync(seeds, configuration, writeBack: true)
        #expect(next.seedsChanged == 0 && next.seedFilesRewritten == 0, "\(next)")
    }
}

extension IncrementalSyncTests {
    @Test("a sync that reads nothing still renews what it references: prune --max-age keeps every referenced image")
    func referencesRenewed() throws {
        let origin = try ImageOrigin()
        let directory = try TemporaryDirectory()
        let seeds = directory.url.appendingPathComponent("seeds"), cache = directory.url.appendingPathComponent("cache")
        let configuration = SyncTests.configuration(cache: cache)
        try SeedFiles.write(seeds, name: "a.md", urls: [(origin.url("/a.jpg"), nil), (origin.url("/b.png"), nil)])
        _ = try Self.sync(seeds, configuration)
        let opened = try Cache.open(configuration, for: .writing)
        let index = try #require(opened.index as? CacheIndex)
        // Two days without a sync: nothing referenced, written or served since.
        try index.testing.age(before: Date().addingTimeInterval(-2 * 86_400))
        let generation = try index.generation()
        let quiet = try Self.sync(seeds, configuration)
        #expect(quiet.seedsChanged == 0 && quiet.results.isEmpty)
        #expect(try index.generation() == generation, "stamps alone do not make readers rebuild")
        let pruned = try Pruner(store: opened.store, index: index).run(policy: PrunePolicy(maxAge: 86_400, grace: 0))
        #expect(pruned.removed.isEmpty, "\(pruned.removed)")
    }
}

extension IncrementalSyncTests {
    @Test("files removed across the seeds step's batches (first, at a boundary, inside, past the last) are found and forgotten, and no other",
          arguments: Backend.allCases)
    func removedAcrossBatches(_ backend: Backend) throws {
        let directory = try TemporaryDirectory()
        let seeds = directory.url.appendingPathComponent("seeds")
        guard let configuration = try Self.configuration(backend, cache: directory.url.appendingPathComponent("cache")) else { return }
        // 4,500 files, more than two batches. "notes-2/" sorts before "notes/" ('-' is below
        // '/'), though a folder listing may give "notes" first: the walk and the index's pages
        // must agree on the order for the merge to find what went.
        func path(_ folder: String, _ n: Int) -> URL { seeds.appendingPathComponent(String(format: "\(folder)/n%04d.txt", n)) }
        let files = (0..<2_200).map { path("notes-2", $0) } + (0..<2_300).map { path("notes", $0) }
        for file in files { try Self.write("notes \(file.lastPathComponent)\n", to: file) }
        let first = try Self.sync(seeds, configuration)
        #expect(first.seedsChanged == 4_500 && first.seedsRemoved == 0, "\(first)")

        let removed = [path("notes-2", 0), path("notes-2", 1_999), path("notes-2", 2_000), path("notes", 1_100)]
            + (2_295..<2_300).map { path("notes", $0) }
        for file in removed { try FileManager.default.removeItem(at: file) }
        try Self.write("new\n", to: seeds.appendingPathComponent("notes/n1100b.txt"))
        let second = try Self.sync(seeds, configuration)
        #expect(second.seedsRemoved == removed.count && second.seedsChanged == 1, "\(second)")

        let index = try Cache.open(configuration, for: .reading).index
        var remembered: [String] = [], after: String?
        while case let page = try index.seedFilePaths(after: after, limit: 1_000), !page.isEmpty {
            remembered += page
            after = page.last
        }
        #expect(remembered == SeedScanner.files(under: seeds.path).paths)
        #expect(remembered.count == 4_500 - removed.count + 1)
        let third = try Self.sync(seeds, configuration)
        #expect(third.seedsRemoved == 0 && third.seedsChanged == 0, "\(third)")
    }
}
