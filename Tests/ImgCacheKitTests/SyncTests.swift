@_spi(Testing) import CacheStore
import Fetching
import Foundation
import ImageCodecs
import ImageCore
import ImgCacheKit
import SeedDocuments
import TestSupport
import Synchronization
import Testing

/// Sync end to end: real origin, real SQLite, real files in a temporary folder.
@Suite("imgcache sync", .serialized)
struct SyncTests {
    static let variants = [
        Variant(name: "thumb", spec: ThumbnailSpec(box: Size(width: 64, height: 64), fit: .inside)),
        Variant(name: "card", spec: ThumbnailSpec(box: Size(width: 96, height: 54), fit: .cover)),
        Variant(name: "large", spec: ThumbnailSpec(box: Size(width: 160, height: 160), fit: .inside)),
    ]

    static func configuration(cache: URL) -> ImgCacheKit.Configuration {
        var c = ImgCacheKit.Configuration()
        c.cacheDirectory = cache.path
        c.variants = variants
        c.fetch.addressPolicy = AddressPolicy(allowedAddresses: ["127.0.0.1"])
        c.fetch.retryBaseDelay = 0.05
        c.fetch.lowSpeedTime = 2
        c.minTTL = 0
        return c
    }

    static func writeSeed(_ folder: URL, name: String = "article.md", urls: [(String, String?)]) throws {
        try SeedFiles.write(folder, name: name, urls: urls)
    }

    /// Every index row's file exists and re-hashes to its key; no temporary files are left.
    static func checkIntegrity(cache: URL) throws {
        let store = try BlobStore(root: cache)
        let index = try CacheIndex(path: cache.appendingPathComponent("index.sqlite").path)
        let (objects, thumbnails) = (try index.testing.objects(), try index.allThumbnails())
        for object in objects {
            let data = try store.read(store.objectPath(object.digest))
            #expect(BlobStore.digest(data) == object.digest)
            #expect(data.count == object.bytes)
        }
        for thumbnail in thumbnails {
            let path = store.thumbnailPath(thumbnail)
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect(attributes[.size] as? Int == thumbnail.bytes)
        }
        let check = try index.testing.integrityCheck()
        #expect(check == "ok")
    }

    @Test("a first sync: fetched, stored by content, three variants each, failures named, isCached recorded")
    func firstSync() throws {
        let origin = try ImageOrigin()
        let directory = try TemporaryDirectory()
        let seeds = directory.url.appendingPathComponent("seeds"), cache = directory.url.appendingPathComponent("cache")
        try Self.writeSeed(seeds, urls: [
            (origin.url("/a.jpg"), "300x225"), (origin.url("/b.png"), nil), (origin.url("/c.jpg"), "1800x1200"),
            (origin.url("/dup-1.jpg"), nil), (origin.url("/missing.jpg"), nil), (origin.url("/page.jpg"), nil),
        ])
        try Self.writeSeed(seeds.appendingPathComponent("2025"), name: "other.txt", urls: [
            // a.jpg again: one image. This file sorts first, so its (wrong) declared size is the one used.
            (origin.url("/dup-2.jpg"), nil), (origin.url("/a.jpg"), "640x480"),
        ])
        let report = try Syncer(seedsDirectory: seeds.path, configuration: Self.configuration(cache: cache)).run()

        #expect(report.seedsRead == 2)
        #expect(report.images == 7)
        #expect(report.fetched == 5)
        #expect(report.failed == 2)
        #expect(report.failuresByKind == ["http status": 1, "unsupported format": 1])
        // The index keeps each kind in its own column, read back as the same enum.
        let recorded = try CacheIndex(cacheDirectory: cache.path)
        #expect(try recorded.source(origin.url("/missing.jpg"))?.failureKind == .httpStatus)
        #expect(try recorded.source(origin.url("/page.jpg"))?.failureKind == .unsupportedFormat)
        #expect(try recorded.failureGroups(limit: 5).map(\.kind).sorted { $0.rawValue < $1.rawValue } == [.httpStatus, .unsupportedFormat])
        #expect(report.cached == 5)
        #expect(report.thumbnailsMade == 30)  // 5 images x 3 variants x (WebP + fallback)
        #expect(report.duplicates == 1)
        #expect(!report.succeeded)
        let page = try #require(report.results.first { $0.url.hasSuffix("/page.jpg") })
        #expect(page.error?.contains("HTML") == true)
        #expect(page.digest == nil)
        // dup-1 and dup-2: one original.
        let store = try BlobStore(root: cache)
        let index = try CacheIndex(path: cache.appendingPathComponent("index.sqlite").path)
        #expect(try index.testing.count(.objects) == 4)
        #expect(try index.testing.count(.thumbnails) == 24)
        let dup1 = try #require(try index.source(origin.url("/dup-1.jpg")))
        #expect(dup1.digest == (try index.source(origin.url("/dup-2.jpg")))?.digest)
        #expect(dup1.isCached)
        #expect(try index.source(origin.url("/missing.jpg"))?.isCached == false)
        #expect(try index.source(origin.url("/missing.jpg"))?.lastError?.contains("404") == true)
        // Orientation and declared size.
        let c = try #require(try index.source(origin.url("/c.jpg")))
        #expect(c.decodedWidth == 1800 && c.decodedHeight == 1200)
        let cThumbs = try index.thumbnails(digest: c.digest!)
        #expect(cThumbs.first { $0.variant == "thumb" }.map { Size(width: $0.width, height: $0.height) } == Size(width: 64, height: 43))
        #expect(cThumbs.first { $0.variant == "card" }.map { Size(width: $0.width, height: $0.height) } == Size(width: 96, height: 54))
        #expect(report.dimensionMismatches == 1)
        #expect(report.results.first { $0.url.hasSuffix("/a.jpg") }?.dimensionMismatch == "declared 640x480, actual 300x225")
        // The transparent PNG keeps its alpha: PNG as the fallback, and WebP with alpha.
        let b = try #require(try index.source(origin.url("/b.png")))
        let bThumbs = try index.thumbnails(digest: b.digest!)
        #expect(bThumbs.filter { $0.format == .png }.count == 3 && bThumbs.filter { $0.format == .webp }.count == 3)
        for record in bThumbs where record.format == .webp {
            #expect(try ImageDecoder.decode(try store.read(store.thumbnailPath(record))).bitmap.hasTransparency)
        }
        // Folders fan out; seed references recorded.
        #expect(store.objectPath(dup1.digest!).contains("/objects/\(dup1.digest!.prefix(2))/\(dup1.digest!.dropFirst(2).prefix(2))/"))
        #expect(try index.testing.count(.seedReferences) == 8)
        try Self.checkIntegrity(cache: cache)
    }

    @Test("a second sync with nothing changed makes no request; --refresh revalidates with 304s and no body")
    func secondSync() throws {
        let origin = try ImageOrigin()
        let directory = try TemporaryDirectory()
        let seeds = directory.url.appendingPathComponent("seeds"), cache = directory.url.appendingPathComponent("cache")
        try Self.writeSeed(seeds, urls: [(origin.url("/a.jpg"), nil), (origin.url("/b.png"), nil)])
        let configuration = Self.configuration(cache: cache)
        let first = try Syncer(seedsDirectory: seeds.path, configuration: configuration).run()
        #expect(first.fetched == 2)
        let requestsAfterFirst = origin.origin.totalRequests

        let second = try Syncer(seedsDirectory: seeds.path, configuration: configuration).run()
        #expect(origin.origin.totalRequests == requestsAfterFirst)  // zero requests reached the origin
        #expect(second.fresh == 2 && second.fetched == 0 && second.bytesDownloaded == 0)
        #expect(second.cached == 2 && second.succeeded)

        origin.origin.resetLog()
        let syncer = try Syncer(seedsDirectory: seeds.path, configuration: configuration)
        syncer.refresh = true
        let refreshed = try syncer.run()
        #expect(refreshed.notModified == 2)
        #expect(refreshed.bytesDownloaded == 0)
        #expect(origin.origin.bodyBytesSent == 0)
        #expect(origin.origin.requests.allSatisfy { $0.headers["if-none-match"] != nil })
    }

    @Test("a changed image gets a new digest; the old original is no longer referenced")
    func changedImage() throws {
        let origin = try ImageOrigin()
        origin.set(maxAge: 0)
        let directory = try TemporaryDirectory()
        let seeds = directory.url.appendingPathComponent("seeds"), cache = directory.url.appendingPathComponent("cache")
        try Self.writeSeed(seeds, urls: [(origin.url("/changing.jpg"), nil)])
        let configuration = Self.configuration(cache: cache)
        let first = try Syncer(seedsDirectory: seeds.path, configuration: configuration).run()
        let oldDigest = try #require(first.results.first?.digest)
        origin.set(changing: "jpeg/baseline/nuke-baseline.jpeg")
        let second = try Syncer(seedsDirectory: seeds.path, configuration: configuration).run()
        #expect(second.fetched == 1)
        let newDigest = try #require(second.results.first?.digest)
        #expect(newDigest != oldDigest)
        let index = try CacheIndex(path: cache.appendingPathComponent("index.sqlite").path)
        let unreferenced = try index.testing.unreferencedObjects()
        #expect(unreferenced == [oldDigest])
        try Self.checkIntegrity(cache: cache)
    }

    @Test("a URL that fails after it was cached keeps its copy and its isCached; the failure is recorded")
    func failureKeepsCopy() throws {
        let origin = try ImageOrigin()
        let directory = try TemporaryDirectory()
        let seeds = directory.url.appendingPathComponent("seeds"), cache = directory.url.appendingPathComponent("cache")
        try Self.writeSeed(seeds, urls: [(origin.url("/sometimes.jpg"), nil)])
        let configuration = Self.configuration(cache: cache)
        #expect(try Syncer(seedsDirectory: seeds.path, configuration: configuration).run().cached == 1)
        origin.set(failing: true)
        let syncer = try Syncer(seedsDirectory: seeds.path, configuration: configuration)
        syncer.refresh = true
        let report = try syncer.run()
        #expect(report.failed == 1)
        #expect(report.results.first?.isCached == true)
        let source = try #require(try CacheIndex(path: cache.appendingPathComponent("index.sqlite").path).source(origin.url("/sometimes.jpg")))
        #expect(source.status == .failed && source.isCached)
        #expect(source.lastError?.contains("500") == true)
        try Self.checkIntegrity(cache: cache)
    }

    @Test("--write-back on the real seed document changes only the isCached values that changed")
    func writeBackRealSeed() throws {
        let origin = try ImageOrigin()
        let directory = try TemporaryDirectory()
        let seeds = directory.url.appendingPathComponent("seeds"), cache = directory.url.appendingPathComponent("cache")
        try FileManager.default.createDirectory(at: seeds, withIntermediateDirectories: true)
        let original = try String(contentsOf: Fixtures.repositoryRoot.appendingPathComponent("seeds/000_b2645a5efb6e71c2.txt"), encoding: .utf8)
        let document = try SeedParser.parse(original, path: "seed")
        // Point the four image URLs at the local origin: three images and one 404.
        let targets = ["/a.jpg", "/b.png", "/missing.jpg", "/dup-1.jpg"]
        var local = original
        for (image, target) in zip(document.images, targets) { local = local.replacingOccurrences(of: image.url, with: origin.url(target)) }
        let path = seeds.appendingPathComponent("000_b2645a5efb6e71c2.txt").path
        try local.write(toFile: path, atomically: true, encoding: .utf8)

        let syncer = try Syncer(seedsDirectory: seeds.path, configuration: Self.configuration(cache: cache))
        syncer.writeBack = true
        let report = try syncer.run()
        #expect(report.seedFilesRewritten == 1)
        let written = try String(contentsOfFile: path, encoding: .utf8)
        let before = local.components(separatedBy: "\n"), after = written.components(separatedBy: "\n")
        #expect(before.count == after.count)
        let changed = zip(before, after).filter { $0 != $1 }
        #expect(changed.count == 1)
        #expect(changed.first?.1.trimmingCharacters(in: .whitespaces) == "isCached: false")
        // Every other byte, the secured blob included, is unchanged.
        #expect(written.replacingOccurrences(of: "isCached: false", with: "isCached: true") == local)
    }

    @Test("a Hugo TOML post and a JSON post sync and get isCached written back, nothing else changed")
    func tomlAndJSONSeeds() throws {
        let origin = try ImageOrigin()
        let directory = try TemporaryDirectory()
        let seeds = directory.url.appendingPathComponent("seeds"), cache = directory.url.appendingPathComponent("cache")
        try FileManager.default.createDirectory(at: seeds, withIntermediateDirectories: true)
        let toml = """
            +++
            title = "TOML"  # Hugo's default front matter
            [[images]]
            url = "\(origin.url("/a.jpg"))"
            isCached = false
            [[related]]
            [[related.images]]
            url = "\(origin.url("/missing.jpg"))"
            isCached = true
            +++
            Body.

            """
        let json = """
            {
              "title": "JSON",
              "images": [{"url": "\(origin.url("/b.png"))", "isCached": false}]
            }
            Body.

            """
        let tomlPath = seeds.appendingPathComponent("toml.md"), jsonPath = seeds.appendingPathComponent("json.md")
        try toml.write(to: tomlPath, atomically: true, encoding: .utf8)
        try json.write(to: jsonPath, atomically: true, encoding: .utf8)
        let syncer = try Syncer(seedsDirectory: seeds.path, configuration: Self.configuration(cache: cache))
        syncer.writeBack = true
        let report = try syncer.run()
        #expect(report.seedsRead == 2 && report.images == 3 && report.cached == 2 && report.failed == 1, "\(report.seedProblems)")
        #expect(report.seedFilesRewritten == 2)
        #expect(try String(contentsOf: tomlPath, encoding: .utf8)
                == toml.replacingOccurrences(of: "isCached = false", with: "isCached = true").replacingOccurrences(
                    of: "missing.jpg\"\nisCached = true", with: "missing.jpg\"\nisCached = false"))
        #expect(try String(contentsOf: jsonPath, encoding: .utf8) == json.replacingOccurrences(of: "\"isCached\": false", with: "\"isCached\": true"))
    }

    @Test("bodyImages: a body image is fetched and cached, counts as a reference for prune --unreferenced, and is never written back")
    func bodyImages() throws {
        let origin = try ImageOrigin()
        let directory = try TemporaryDirectory()
        let seeds = directory.url.appendingPathComponent("seeds"), cache = directory.url.appendingPathComponent("cache")
        try FileManager.default.createDirectory(at: seeds, withIntermediateDirectories: true)
        let post = "---\nimages:\n  - url: \(origin.url("/a.jpg"))\n    isCached: false\n---\nSee ![b](\(origin.url("/b.png"))).\n"
        let path = seeds.appendingPathComponent("post.md")
        try post.write(to: path, atomically: true, encoding: .utf8)
        var configuration = Self.configuration(cache: cache)
        configuration.bodyImages = true
        let syncer = try Syncer(seedsDirectory: seeds.path, configuration: configuration)
        syncer.writeBack = true
        let report = try syncer.run()
        #expect(report.images == 2 && report.cached == 2, "\(report.results.map { $0.error ?? "ok" })")
        #expect(try String(contentsOf: path, encoding: .utf8) == post.replacingOccurrences(of: "isCached: false", with: "isCached: true"))
        // The seed references record the body image with its line.
        let index = try CacheIndex(cacheDirectory: cache.path)
        #expect(try index.contents().references[origin.url("/b.png")]?.isEmpty == false)
        // prune --unreferenced keeps it while the body shows it; without bodyImages it is unreferenced.
        let kept = try Pruner(Cache.open(configuration, for: .reading))
            .run(policy: PrunePolicy(removeUnreferenced: true, grace: 0), unreferencedSeeds: seeds.path)
        #expect(kept.removed.isEmpty)
        configuration.bodyImages = false
        let removed = try Pruner(Cache.open(configuration, for: .reading))
            .run(policy: PrunePolicy(removeUnreferenced: true, grace: 0), unreferencedSeeds: seeds.path)
        #expect(removed.removed.flatMap(\.urls) == [origin.url("/b.png")], "\(removed.removed)")
    }

    @Test("a bad seed file is reported with its path and the rest still syncs")
    func badSeed() throws {
        let origin = try ImageOrigin()
        let directory = try TemporaryDirectory()
        let seeds = directory.url.appendingPathComponent("seeds"), cache = directory.url.appendingPathComponent("cache")
        try Self.writeSeed(seeds, urls: [(origin.url("/a.jpg"), nil)])
        try "---\nimages: [\n---\n".write(to: seeds.appendingPathComponent("broken.md"), atomically: true, encoding: .utf8)
        try "---\nimages:\n  - url: ftp://example.com/x.jpg\n---\n".write(to: seeds.appendingPathComponent("ftp.md"), atomically: true, encoding: .utf8)
        let report = try Syncer(seedsDirectory: seeds.path, configuration: Self.configuration(cache: cache)).run()
        #expect(report.cached == 1)
        #expect(report.seedProblems.count == 2)
        #expect(report.seedProblems.contains { $0.contains("broken.md") && $0.contains("invalid YAML") })
        #expect(report.seedProblems.contains { $0.contains("ftp.md:3") })
        #expect(!report.succeeded)
    }

    @Test("two syncs at once on one cache: the second names the lease holder, or waits for it; each URL is requested once")
    func concurrentSyncs() async throws {
        try await Blocking.offPool { try Self.concurrentSyncs() }
    }

    static func concurrentSyncs() throws {
        let origin = try ImageOrigin()
        origin.set(slow: true)
        let directory = try TemporaryDirectory()
        let seeds = directory.url.appendingPathComponent("seeds"), cache = directory.url.appendingPathComponent("cache")
        let paths = ["/a.jpg", "/b.png", "/c.jpg", "/dup-1.jpg", "/dup-2.jpg"]
        try Self.writeSeed(seeds, urls: paths.map { (origin.url($0), nil) })
        let configuration = Self.configuration(cache: cache)
        let first = Mutex<Result<SyncReport, CacheError>?>(nil)
        let firstDone = DispatchSemaphore(value: 0)
        let firstSyncer = try Syncer(seedsDirectory: seeds.path, configuration: configuration)
        DispatchQueue.global().async {
            let result = Result { () throws(CacheError) in try firstSyncer.run() }
            first.withLock { $0 = result }
            firstDone.signal()
        }
        // The first sync holds the lease once it asks the origin for something.
        let deadline = Date().addingTimeInterval(20)
        while origin.origin.totalRequests == 0 && Date() < deadline { usleep(10_000) }

        let refused = #expect(throws: CacheError.self) { try Syncer(seedsDirectory: seeds.path, configuration: configuration).run() }
        #expect(refused?.code == .leaseHeld)
        #expect(refused?.message.contains("another sync is running on \(ProcessInfo.processInfo.hostName) (pid \(getpid())) since ") == true,
                "\(String(describing: refused))")

        let waiting = try Syncer(seedsDirectory: seeds.path, configuration: configuration)
        waiting.waitForLease = true
        let waitedFor = Mutex<SyncLeaseHolder?>(nil)
        waiting.onLeaseWait = { holder in waitedFor.withLock { $0 = holder } }
        let second = try waiting.run()
        // It started once the first had finished, and found every image fresh. (The first
        // thread signals just after its sync gives the lease up: under load the second can
        // finish before that thread runs again, so it is given a moment.)
        #expect(firstDone.wait(timeout: .now() + 10) == .success)
        #expect(waitedFor.withLock { $0 }?.pid == Int(getpid()))
        #expect(try first.withLock { try $0?.get().cached } == 5)
        #expect(second.cached == 5 && second.fresh == 5 && second.fetched == 0)
        #expect(origin.origin.totalRequests == paths.count)
        let index = try CacheIndex(path: cache.appendingPathComponent("index.sqlite").path)
        #expect(try index.testing.count(.objects) == 4)
        try Self.checkIntegrity(cache: cache)
    }

    @Test("the binary: a second sync exits 75 naming the running one; --wait queues behind it")
    func leaseCommandLine() async throws {
        try await Blocking.offPool { try Self.leaseCommandLine() }
    }

    static func leaseCommandLine() throws {
        let origin = try ImageOrigin()
        origin.set(slow: true)
        let directory = try TemporaryDirectory()
        let seeds = directory.url.appendingPathComponent("seeds"), cache = directory.url.appendingPathComponent("cache")
        try Self.writeSeed(seeds, urls: ["/a.jpg", "/b.png"].map { (origin.url($0), nil) })
        let arguments = ["sync", seeds.path, "--cache", cache.path, "--allow-private", "--quiet"]
        let running = Process()
        running.executableURL = Executable.imgcache
        running.arguments = arguments
        running.standardError = FileHandle.nullDevice
        try running.run()
        let deadline = Date().addingTimeInterval(20)
        while origin.origin.totalRequests == 0 && Date() < deadline { usleep(10_000) }
        let refused = try Executable.run(arguments)
        #expect(refused.status == 75)
        #expect(refused.stderr.contains("error: sync lease: another sync is running on \(ProcessInfo.processInfo.hostName) "
                                        + "(pid \(running.processIdentifier)) since "), "\(refused.stderr)")
        let queued = try Executable.run(arguments + ["--wait"])
        #expect(queued.status == 0, "\(queued.stderr)")
        #expect(queued.stderr.contains("sync: waiting for the sync on \(ProcessInfo.processInfo.hostName) (pid \(running.processIdentifier))"))
        running.waitUntilExit()
        #expect(running.terminationStatus == 0)
        #expect(origin.origin.totalRequests == 2)
    }

    @Test("a sync killed with SIGKILL leaves no row without its file; the next sync completes and sweeps")
    func killedSync() async throws {
        try await Blocking.offPool { try Self.killedSync() }
    }

    static func killedSync() throws {
        let origin = try ImageOrigin()
        origin.set(slow: true)
        let directory = try TemporaryDirectory()
        let seeds = directory.url.appendingPathComponent("seeds"), cache = directory.url.appendingPathComponent("cache")
        try Self.writeSeed(seeds, urls: ["/a.jpg", "/b.png", "/c.jpg", "/dup-1.jpg", "/sometimes.jpg"].map { (origin.url($0), nil) })
        let config = directory.url.appendingPathComponent("imgcache.yml")
        try """
            allowPrivate: ["127.0.0.1"]
            minTTL: 0s
            variants:
              thumb: {size: 64x64}
              card: {size: 96x54, fit: cover}
              large: {size: 160x160}
            """.write(to: config, atomically: true, encoding: .utf8)
        let arguments = ["sync", seeds.path, "--cache", cache.path, "--config", config.path, "--quiet"]
        for delay in [0.3, 0.8, 1.5] {
            let process = Process()
            process.executableURL = Executable.imgcache
            process.arguments = arguments
            process.standardError = FileHandle.nullDevice
            try process.run()
            Thread.sleep(forTimeInterval: delay)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            if FileManager.default.fileExists(atPath: cache.appendingPathComponent("index.sqlite").path) {
                try Self.checkIntegrity(cache: cache)
            }
        }
        origin.set(slow: false)
        let result = try Executable.run(arguments)
        #expect(result.status == 0, "\(result.stderr)")
        try Self.checkIntegrity(cache: cache)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: cache.appendingPathComponent("tmp").path)
        #expect(leftovers.isEmpty)
        let status = try CacheStatus.load(cacheDirectory: cache.path)
        #expect(status.summary.imagesCached == 5 && status.images.filter(\.isCached).count == 5)
    }

    @Test("the binary: sync exits 1 naming each failed URL; status lists every image; --json parses")
    func commandLine() throws {
        let origin = try ImageOrigin()
        let directory = try TemporaryDirectory()
        let seeds = directory.url.appendingPathComponent("seeds"), cache = directory.url.appendingPathComponent("cache")
        try Self.writeSeed(seeds, urls: [(origin.url("/a.jpg"), nil), (origin.url("/missing.jpg"), nil)])
        let result = try Executable.run(["sync", seeds.path, "--cache", cache.path, "--allow-private", "--json"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("error: \(origin.url("/missing.jpg")): http status: HTTP 404"))
        #expect(result.stderr.contains("1 fetched"))
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(report["cached"] as? Int == 1)
        let status = try Executable.run(["status", "--cache", cache.path])
        #expect(status.status == 0)
        #expect(status.stdout.contains("cached  \(origin.url("/a.jpg"))"))
        #expect(status.stdout.contains("MISSING \(origin.url("/missing.jpg"))"))
        #expect(status.stdout.contains("thumb: "))
        // Without --allow-private the loopback origin is refused.
        let refused = try Executable.run(["sync", seeds.path, "--cache", cache.path, "--refresh", "--quiet"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("loopback"))
    }

    @Test("hostile URLs in output: CR/LF and NUL escaped (no forged lines); userinfo goes to the origin only, never stored or shown")
    func outputHygiene() throws {
        let origin = try ImageOrigin()
        let directory = try TemporaryDirectory()
        let seeds = directory.url.appendingPathComponent("seeds"), cache = directory.url.appendingPathComponent("cache")
        try FileManager.default.createDirectory(at: seeds, withIntermediateDirectories: true)
        let secret = origin.url("/missing.jpg").replacingOccurrences(of: "http://", with: "http://editor:s3cret@")
        let text = """
            ---
            images:
              - url: "\(secret)"
              - url: "https://a.example/x.jpg\\r\\nerror: forged line"
              - url: "https://a.example/x\\0y.jpg"
            ---

            """
        try text.write(to: seeds.appendingPathComponent("post.md"), atomically: true, encoding: .utf8)
        let result = try Executable.run(["sync", seeds.path, "--cache", cache.path, "--allow-private"])
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(!lines.contains { $0.hasPrefix("error: forged") }, "\(result.stderr)")
        #expect(result.stderr.contains("x.jpg\\r\\nerror: forged line"))
        #expect(result.stderr.contains("control character U+000D") && result.stderr.contains("control character U+0000"))
        // The credentials go to the origin (Basic auth) and nowhere else: not in messages, not in the index.
        #expect(origin.origin.requests.contains { $0.headers["authorization"] == "Basic " + Data("editor:s3cret".utf8).base64EncodedString() })
        #expect(!result.stderr.contains("s3cret") && !result.stderr.contains("editor"))
        #expect(result.stderr.contains("error: \(origin.url("/missing.jpg")): http status"), "\(result.stderr)")
        let status = try Executable.run(["status", "--cache", cache.path])
        #expect(status.status == 0)
        #expect(!status.stdout.contains("s3cret") && !status.stdout.contains("editor"), "\(status.stdout)")
        #expect(status.stdout.contains(origin.url("/missing.jpg")))
        let index = try CacheIndex(path: cache.appendingPathComponent("index.sqlite").path)
        #expect(try index.allSources().keys.sorted() == [origin.url("/missing.jpg")])
    }

    @Test("a full disk: every item says so, the summary is printed, exit 1, the index stays sound and keeps what was cached")
    func diskFull() throws {
        let directory = try TemporaryDirectory()
        let cache = directory.url.appendingPathComponent("cache")
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        // A real file system that fills up: a 4 MB tmpfs (needs root to mount).
        guard try SmallFileSystem.mount("4m", at: cache) else { return }
        defer { SmallFileSystem.unmount(cache) }
        let origin = try ImageOrigin()
        let seeds = directory.url.appendingPathComponent("seeds")
        try Self.writeSeed(seeds, urls: [(origin.url("/a.jpg"), nil)])
        let first = try Executable.run(["sync", seeds.path, "--cache", cache.path, "--allow-private", "--quiet"])
        #expect(first.status == 0, "\(first.stderr)")
        // Fill all but 256 KB (room to open the index, not for the new images), then ask for more.
        let free = try #require(try FileManager.default.attributesOfFileSystem(forPath: cache.path)[.systemFreeSize] as? Int)
        let filler = cache.appendingPathComponent("filler")
        try Data(count: max(0, free - 256 * 1024)).write(to: filler)
        try Self.writeSeed(seeds, urls: [(origin.url("/a.jpg"), nil), (origin.url("/b.png"), nil), (origin.url("/c.jpg"), nil),
                                         (origin.url("/dup-1.jpg"), nil)])
        let full = try Executable.run(["sync", seeds.path, "--cache", cache.path, "--allow-private", "--refresh"])
        #expect(full.status == 1)
        #expect(full.stderr.contains("No space left on device") || full.stderr.contains("disk is full"), "\(full.stderr)")
        // Whether the disk ran out at a file or at the index's commit depends on the order the
        // items finish in (a small one may still fit): either way the items that failed, or the
        // index update, say so by name.
        let lines = full.stderr.split(separator: "\n")
        let itemsSaySo = ["/b.png", "/c.jpg", "/dup-1.jpg"].contains { item in
            lines.contains { $0.contains(item) && ($0.contains("No space left on device") || $0.contains("disk is full")) }
        }
        #expect(full.stderr.contains("could not be recorded in the index") || itemsSaySo, "\(full.stderr)")
        #expect(full.stderr.contains("sync: 1 seed files (1 read, 0 gone), 4 images"), "the summary is printed: \(full.stderr)")
        // Told apart from other i/o by its errno (ENOSPC, or SQLite's SQLITE_FULL for the index).
        #expect(full.stderr.contains("disk full"), "\(full.stderr)")
        #expect(!full.stderr.contains("Usage:"))

        try FileManager.default.removeItem(at: filler)
        // No row without its file, nothing corrupt; files written before a commit that failed are
        // orphans (files go before rows), which verify reports only once they are older than its grace.
        let strict = try Executable.run(["verify", "--cache", cache.path, "--grace", "0"])
        #expect(!strict.stdout.contains("missing") && !strict.stdout.contains("corrupt"), "\(strict.stdout)")
        #expect(strict.stdout.split(separator: "\n").allSatisfy { $0.hasPrefix("orphaned ") })
        let verify = try Executable.run(["verify", "--cache", cache.path])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        let status = try Executable.run(["status", "--cache", cache.path])
        #expect(status.stdout.contains("cached  \(origin.url("/a.jpg"))"), "what was cached before is still cached")
        let again = try Executable.run(["sync", seeds.path, "--cache", cache.path, "--allow-private", "--quiet"])
        #expect(again.status == 0, "\(again.stderr)")
    }

    @Test("a store that stops taking files (a full disk): the sync stops after three images in a row, says so once, fetches no more")
    func stopsWhenTheStoreFails() async throws {
        try await Blocking.offPool { try Self.stopsWhenTheStoreFails() }
    }

    static func stopsWhenTheStoreFails() throws {
        let directory = try TemporaryDirectory()
        let cache = directory.url.appendingPathComponent("cache")
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        guard try SmallFileSystem.mount("24m", at: cache) else { return }
        defer { SmallFileSystem.unmount(cache) }
        let requests = Mutex(0)
        let origin = try TestOrigin { request, _ in
            requests.withLock { $0 += 1 }
            let name = request.path.split(separator: "/").last.map(String.init) ?? ""
            guard let body = try? Fixtures.data("jpeg/orientation/\(name)") else { return .respond(status: 404, headers: [:], body: Data()) }
            return .respond(status: 200, headers: ["Content-Type": "image/jpeg"], body: body)
        }
        let names = (1...8).map { "Landscape_\($0).jpg" } + (1...8).map { "Portrait_\($0).jpg" }
        let seeds = directory.url.appendingPathComponent("seeds")
        try Self.writeSeed(seeds, urls: names.map { (origin.url("/\($0)"), nil) })
        // The index fits; not one original more does.
        let empty = directory.url.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        _ = try Executable.run(["sync", empty.path, "--cache", cache.path, "--quiet"])
        #expect(FileManager.default.fileExists(atPath: cache.appendingPathComponent("index.sqlite").path))
        let free = try #require(try FileManager.default.attributesOfFileSystem(forPath: cache.path)[.systemFreeSize] as? Int)
        // 192 KB: room for the index's writes (the seed files and their references), not for one 350 KB original.
        try Data(count: max(0, free - 192 * 1024)).write(to: cache.appendingPathComponent("filler"))
        let result = try Executable.run(["sync", seeds.path, "--cache", cache.path, "--allow-private", "--concurrency", "1"])
        #expect(result.status == 1)
        let stops = result.stderr.split(separator: "\n").filter { $0.hasPrefix("error: sync stopped: ") }
        #expect(stops.count == 1 && stops[0].contains("No space left on device"), "\(result.stderr)")
        #expect(requests.withLock { $0 } < names.count, "every image was still fetched")
        // The next sync, with room again, caches every one.
        try FileManager.default.removeItem(at: cache.appendingPathComponent("filler"))
        let again = try Executable.run(["sync", seeds.path, "--cache", cache.path, "--allow-private", "--quiet"])
        #expect(again.status == 0, "\(again.stderr.suffix(600))")
    }
}
