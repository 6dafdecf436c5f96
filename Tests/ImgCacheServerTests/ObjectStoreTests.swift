@_spi(Testing) import CacheStore
import Fetching
import Foundation
import ImageCore
import ImgCacheKit
import Hummingbird
import HummingbirdTesting
import ImgCacheServer
import TestSupport
import Testing

/// Sync, verify, serve and prune with the files in a real S3-compatible store (SeaweedFS,
/// started by the tests) and the index in the cache folder.
@Suite("Files in an S3 object store: sync, verify, serve, prune", .serialized,
       .enabled(if: SeaweedFS.shared != nil || TestServers.required, Comment(rawValue: SeaweedFS.skipReason)))
struct ObjectStoreSyncTests {
    struct Setup {
        let directory: TemporaryDirectory
        let origin: TestOrigin
        let configuration: Configuration
        let seeds: URL
        let bucket: S3BlobStore
    }

    static func setUp() throws -> Setup {
        let server = try #require(SeaweedFS.shared, "\(SeaweedFS.skipReason)")
        let directory = try TemporaryDirectory()
        let files = ["/photo.jpg": "../colour/srgb-twin.jpg", "/alpha.avif": "../formats/alpha.avif"]
        let origin = try TestOrigin { request, _ in
            guard let fixture = files[request.path] else { return .respond(status: 404, headers: [:], body: Data()) }
            return .respond(status: 200, headers: ["Content-Type": "application/octet-stream"], body: try! Fixtures.data(fixture))
        }
        let seeds = directory.url.appendingPathComponent("seeds")
        try SeedFiles.write(seeds, urls: files.keys.sorted().map { (origin.url($0), nil) })
        var configuration = Configuration()
        configuration.cacheDirectory = directory.url.appendingPathComponent("cache").path
        configuration.variants = [Variant(name: "thumb", spec: ThumbnailSpec(box: Size(width: 160, height: 160)), formats: [.webp, .auto])]
        configuration.fetch.addressPolicy = AddressPolicy(allowedAddresses: ["127.0.0.1"])
        let location = S3Location(endpoint: server.endpoint, bucket: server.bucket, prefix: SeaweedFS.uniquePrefix() + "/cache",
                                  accessKey: server.accessKey, secretKey: server.secretKey)
        configuration.store = location
        return Setup(directory: directory, origin: origin, configuration: configuration, seeds: seeds, bucket: S3BlobStore(location))
    }

    @Test("sync puts every original and thumbnail in the bucket (none in the cache folder); every listed object re-hashes to its row")
    func syncAndVerify() async throws {
        // Off the cooperative pool: these block on the network, and live-server tests beside them need it.
        try await SocketHelper.offPool { try Self.syncAndVerifyBody() }
    }

    static func syncAndVerifyBody() throws {
        let setup = try Self.setUp()
        let report = try Syncer(seedsDirectory: setup.seeds.path, configuration: setup.configuration).run()
        #expect(report.fetched == 2 && report.cached == 2 && report.thumbnailsMade == 4, "\(report.results.compactMap(\.error))")
        let listed = try setup.bucket.list()
        #expect(listed.filter(\.key.isOriginal).count == 2 && listed.count == 6)
        let local = try BlobStore(root: URL(fileURLWithPath: setup.configuration.cacheDirectory))
        #expect(try local.list().isEmpty, "nothing is stored in the cache folder when a store is configured")
        let index = try CacheIndex(cacheDirectory: setup.configuration.cacheDirectory)
        for thumbnail in try index.allThumbnails() {
            #expect(setup.bucket.hash(thumbnail.blobKey)?.digest == thumbnail.sha256)
        }
        // A second sync is all fresh: nothing new is written.
        let again = try Syncer(seedsDirectory: setup.seeds.path, configuration: setup.configuration).run()
        #expect(again.fresh == 2 && again.thumbnailsMade == 0 && again.cached == 2)

        let clean = try Verifier(cacheDirectory: setup.configuration.cacheDirectory, configuration: setup.configuration).run(repair: false)
        #expect(clean.isClean && clean.originalsChecked == 2 && clean.thumbnailsChecked == 4, "\(clean.problems)")
        // A flipped object in the bucket is found, and --repair makes it again.
        let victim = try #require(try index.allThumbnails().first)
        try setup.bucket.put(Data("not the thumbnail".utf8), as: victim.blobKey)
        let damaged = try Verifier(cacheDirectory: setup.configuration.cacheDirectory, configuration: setup.configuration).run(repair: true)
        #expect(damaged.count(.corrupt) == 1 && damaged.thumbnailsRemade == 1, "\(damaged.problems)")
        #expect(setup.bucket.hash(victim.blobKey)?.digest == victim.sha256)
    }

    @Test("a replica serves from its local copy, re-hashed when fetched; changed bytes in the store are never served")
    func serve() async throws {
        // Off the cooperative pool: these block on the network, and live-server tests beside them need it.
        try await SocketHelper.offPool { try Self.serveBody() }
    }

    static func serveBody() throws {
        let setup = try Self.setUp()
        _ = try Syncer(seedsDirectory: setup.seeds.path, configuration: setup.configuration).run()
        let service = try replicaService(setup.configuration, replicaBytes: 1 << 20)
        let index = try CacheIndex(cacheDirectory: setup.configuration.cacheDirectory)
        let record = try #require(try index.allThumbnails().first { $0.format == .webp })
        let served = try #require(try service.file(for: cacheURL("/t/\(record.digest)/thumb.webp")))
        #expect(served.path.hasPrefix(setup.configuration.cacheDirectory + "/replica/"))
        #expect(BlobStore.digest(ofFile: served.path)?.digest == record.sha256)
        // The file's blocks and its two fan-out folders' blocks.
        #expect(service.files.bytesHeld == ReadThroughCache.onDisk(record.bytes) + 2 * ReadThroughCache.folderBytes)

        // A replica whose copy was evicted fetches it again; it never answers with a file that is gone.
        let small = try replicaService(setup.configuration, replicaBytes: 1)
        let webps = try index.allThumbnails().filter { $0.format == .webp }
        #expect(webps.count == 2)
        let firstCopy = try #require(try small.file(for: cacheURL("/t/\(webps[0].digest)/thumb.webp")))
        _ = try small.file(for: cacheURL("/t/\(webps[1].digest)/thumb.webp"))
        #expect(!FileManager.default.fileExists(atPath: firstCopy.path), "evicted past the budget")
        let again = try #require(try small.file(for: cacheURL("/t/\(webps[0].digest)/thumb.webp")))
        #expect(BlobStore.digest(ofFile: again.path)?.digest == webps[0].sha256)

        // The store's bytes change behind the index's back: a replica that has not copied them refuses.
        let other = try #require(try index.allThumbnails().first { $0.format != .webp })
        try setup.bucket.put(Data("tampered".utf8), as: other.blobKey)
        let otherURL = try cacheURL("/t/\(other.digest)/thumb.\(other.fileExtension)")
        #expect(throws: CacheError.self) { try service.file(for: otherURL) }

        // A small budget: the least recently used copy is evicted.
        let tiny = try ReadThroughCache(source: setup.bucket, folder: setup.directory.url.appendingPathComponent("tiny"), maxBytes: 1)
        guard case .file(let first) = try tiny.copy(.original(record.digest), sha256: record.digest,
                                                    bytes: try #require(try index.object(record.digest)).bytes) else {
            Issue.record("the replica folder took no copy")
            return
        }
        let originals = try index.storedFiles().objects
        let second = try #require(originals.first { $0.digest != record.digest })
        _ = try tiny.copy(.original(second.digest), sha256: second.digest, bytes: second.bytes)
        #expect(!FileManager.default.fileExists(atPath: first))
        #expect(tiny.bytesHeld == ReadThroughCache.onDisk(second.bytes) + 2 * ReadThroughCache.folderBytes)
        // The evicted copy's folder went with it (unless the second copy shares it).
        let firstFolder = (first as NSString).deletingLastPathComponent
        if !BlobKey.original(second.digest).relativePath.hasPrefix(String(BlobKey.original(record.digest).relativePath.prefix(13))) {
            #expect(!FileManager.default.fileExists(atPath: firstFolder), "an emptied fan-out folder is removed")
        }
        // Every folder left in the replica holds a copy: none is counted that is not on disk, none on disk uncounted.
        let tinyRoot = setup.directory.url.appendingPathComponent("tiny").path
        let leafFolders = try FileManager.default.subpathsOfDirectory(atPath: tinyRoot)
            .filter { $0.split(separator: "/").count == 3 && !$0.hasPrefix("tmp") }
        #expect(leafFolders.count == 1, "\(leafFolders)")
    }

    @Test("prune deletes the images' objects from the bucket after its transaction")
    func prune() async throws {
        // Off the cooperative pool: these block on the network, and live-server tests beside them need it.
        try await SocketHelper.offPool { try Self.pruneBody() }
    }

    static func pruneBody() throws {
        let setup = try Self.setUp()
        _ = try Syncer(seedsDirectory: setup.seeds.path, configuration: setup.configuration).run()
        let report = try Pruner(Cache.open(setup.configuration, for: .reading))
            .run(policy: PrunePolicy(maxBytes: 0, grace: 0))
        #expect(report.removed.count == 2 && report.filesRemoved == 6)
        #expect(try setup.bucket.list().isEmpty)
        #expect(try CacheIndex(cacheDirectory: setup.configuration.cacheDirectory).totals().objects == 0)
    }
}

/// A replica whose backends fail: a bucket that refuses its credentials, a replica folder that fills up.
@Suite("A replica whose store or disk fails: readiness tells, files are still served", .serialized,
       .enabled(if: SeaweedFS.shared != nil || TestServers.required, Comment(rawValue: SeaweedFS.skipReason)))
struct ReplicaFailureTests {
    @Test("a wrong S3 secret: /readyz 503 naming the store; /healthz 200")
    func wrongSecret() async throws {
        let setup = try ObjectStoreSyncTests.setUp()
        _ = try await SocketHelper.offPool { try Syncer(seedsDirectory: setup.seeds.path, configuration: setup.configuration).run() }
        var wrong = try #require(setup.configuration.store)
        wrong.secretKey = "not-the-secret"
        let service = try replicaService({ var c = setup.configuration; c.store = wrong; return c }())
        let app = Application(router: buildRouter(service: service, metrics: ServerMetrics()))
        try await app.test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let answer = try JSONDecoder().decode(ReadyAnswer.self, from: Data(buffer: response.body))
                let store = try #require(answer.checks.first { $0.name == "store" })
                #expect(!store.ok && store.problem?.contains("the blob store cannot be read") == true, "\(answer)")
                #expect(answer.checks.first { $0.name == "index" }?.ok == true)
            }
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test("a replica folder on a full 1 MB tmpfs: every file still 200 with the right bytes, from the bucket; readiness says degraded")
    func fullReplicaDisk() async throws {
        let setup = try ObjectStoreSyncTests.setUp()
        _ = try await SocketHelper.offPool { try Syncer(seedsDirectory: setup.seeds.path, configuration: setup.configuration).run() }
        let replica = URL(fileURLWithPath: setup.configuration.cacheDirectory).appendingPathComponent("replica")
        try FileManager.default.createDirectory(at: replica, withIntermediateDirectories: true)
        guard try SmallFileSystem.mount("1m", at: replica) else { return }
        defer { SmallFileSystem.unmount(replica) }
        let service = try replicaService(setup.configuration)
        // Filled by something else: not one more block fits.
        _ = try Executable.runTool("/bin/dd", ["if=/dev/zero", "of=\(replica.path)/filler", "bs=64k", "count=64"])
        let index = try CacheIndex(cacheDirectory: setup.configuration.cacheDirectory)
        let app = Application(router: buildRouter(service: service, metrics: ServerMetrics()))
        try await app.test(.router) { client in
            for object in try index.storedFiles().objects {
                for _ in 0..<2 {
                    try await client.execute(uri: "/o/\(object.digest).\(try #require(try index.object(object.digest)).fileExtension)",
                                             method: .get) { response in
                        #expect(response.status == .ok)
                        #expect(BlobStore.digest(Data(buffer: response.body)) == object.digest)
                    }
                }
            }
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok)
                let answer = try JSONDecoder().decode(ReadyAnswer.self, from: Data(buffer: response.body))
                let check = try #require(answer.checks.first { $0.name == "replica" })
                #expect(check.ok && check.problem?.contains("degraded, streaming from the bucket") == true, "\(answer)")
            }
        }
        // Warned once for the episode.
        #expect(service.takeReplicaWarning() == nil)
    }
}

/// A serve replica of the cache `configuration` names, keeping `replicaBytes` of local copies.
private func replicaService(_ configuration: ImgCacheKit.Configuration, replicaBytes: Int = 1 << 30) throws -> CacheService {
    var configuration = configuration
    configuration.replicaCacheBytes = replicaBytes
    return try CacheService(Cache.open(configuration, for: .serving))
}

/// The URL of a cached file, parsed as the router parses it.
private func cacheURL(_ path: String) throws -> CacheURL {
    guard let url = CacheURL(path: path) else { throw CacheError(.io, "not a cache URL: \(path)") }
    return url
}
