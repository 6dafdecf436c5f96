@_spi(Testing) import CacheStore
import Foundation
import Hummingbird
import HummingbirdTesting
import ImageCore
import ImgCacheKit
import ImgCacheServer
import Synchronization
import TestSupport
import Testing

/// The PostgreSQL index as users meet it: unreachable servers, /healthz, prune notices, migrate.
@Suite("Shared PostgreSQL index: errors, /healthz, LISTEN/NOTIFY, migrate", .serialized,
       .enabled(if: PostgresServer.shared != nil || TestServers.required,
                "PostgreSQL is not installed (apt-get install postgresql): the PostgreSQL index tests were skipped"))
struct SharedIndexTests {
    @Test("an unreachable database is an error naming it, at once, from the library and the command line (exit 1)")
    func unreachable() throws {
        let port = TestServers.freePort()
        let location = PostgresLocation(host: "127.0.0.1", port: port, user: "imgcache", database: "nowhere")
        let started = Date()
        let error = try #require(throws: CacheError.self) { try PostgresIndex(location) }
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(error.message.contains("cannot reach the PostgreSQL index at postgres://imgcache@127.0.0.1:\(port)/nowhere"), "\(error)")
        let cli = try Executable.runTool("/usr/bin/env", ["IMGCACHE_INDEX=postgres://imgcache:pw@127.0.0.1:\(port)/nowhere",
                                                          Executable.imgcache.path, "status"])
        #expect(cli.status == 1 && cli.stderr.contains("127.0.0.1:\(port)") && !cli.stderr.contains("pw@"), "\(cli.stderr)")

        // A server that answers, a database that does not exist: PostgreSQL's own words.
        let server = try #require(PostgresServer.shared)
        let missing = try #require(throws: CacheError.self) {
            try PostgresIndex(PostgresLocation(host: "127.0.0.1", port: server.port, user: server.user, database: "no_such_db"))
        }
        #expect(missing.message.contains("\"no_such_db\" does not exist") && missing.message.contains("3D000"), "\(missing)")
    }

    @Test("/readyz says 503 and names the database when it stops accepting connections")
    func healthz() async throws {
        let server = try #require(PostgresServer.shared)
        let url = try server.makeDatabase()
        let location = try PostgresLocation.parse(url)
        let directory = try TemporaryDirectory()
        var configuration = ImgCacheKit.Configuration()
        configuration.cacheDirectory = directory.path
        configuration.index = location
        let service = try CacheService(Cache.open(configuration, for: .serving))
        let application = Application(router: buildRouter(service: service, metrics: ServerMetrics()))
        try await application.test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .ok) }
        }
        _ = try server.psql("postgres", """
            ALTER DATABASE \(location.database) ALLOW_CONNECTIONS false;
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(location.database)';
            """)
        defer { _ = try? server.psql("postgres", "ALTER DATABASE \(location.database) ALLOW_CONNECTIONS true") }
        try await Task.sleep(for: .seconds(1.1)) // /readyz reads the index at most once a second
        try await application.test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let answer = try JSONDecoder().decode(ReadyAnswer.self, from: Data(buffer: response.body))
                let index = answer.checks.first { $0.name == "index" }
                #expect(index?.ok == false && index?.problem?.contains("PostgreSQL index at \(location)") == true, "\(answer)")
            }
        }
    }

    @Test("a prune in another process reaches a replica's access log at once through NOTIFY, without its tick")
    func pruneNotice() async throws {
        let server = try #require(PostgresServer.shared)
        let location = try PostgresLocation.parse(try server.makeDatabase())
        let replica = try PostgresIndex(location), other = try PostgresIndex(location)
        let noticed = Mutex(0)
        let accessLog = AccessLog(index: replica, interval: .seconds(3600), onPrune: { noticed.withLock { $0 += 1 } })
        let running = Task { try await accessLog.run() }
        defer { running.cancel() }
        // A prune made before LISTEN is in place goes unheard: prune again every half second
        // until one is heard (or a minute passes: a busy machine may be slow to connect).
        let deadline = Date().addingTimeInterval(60)
        while noticed.withLock({ $0 }) == 0 && Date() < deadline {
            _ = try other.prune(at: Date(), referencedURLs: nil, staleBefore: .distantPast, decide: { _ in
                PruneDecision(digests: [], forgetURLs: [], bytesReclaimed: 0)
            }, removeFiles: { _ in 0 })
            for _ in 0..<10 where noticed.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(noticed.withLock { $0 } >= 1, "the tick is an hour: only NOTIFY can have told it")
        #expect(try replica.appliedMigrations() == PostgresIndex.migrationNames)
    }

    @Test("migrate reads the local index a page at a time: pages of 7 originals copy every URL, original, thumbnail, last-served date and all 1,500 references of a logo")
    func migratePages() async throws {
        try await SocketHelper.offPool {
            let server = try #require(PostgresServer.shared)
            let directory = try TemporaryDirectory()
            let local = try CacheIndex(cacheDirectory: directory.path)
            let rows = SyntheticIndex(count: 300, logo: 1_500)
            try rows.fill(local)
            let served = Date(timeIntervalSince1970: 1_800_000_000)
            for object in rows.objects.prefix(20) { try local.testing.setLastAccess(object.digest, served) }
            var configuration = ImgCacheKit.Configuration()
            configuration.cacheDirectory = directory.path
            let database = try server.makeDatabase()
            configuration.index = try PostgresLocation.parse(database)
            var migrator = Migrator(cacheDirectory: directory.path, configuration: configuration)
            migrator.batchSize = 7
            var progress: [Int] = []
            let report = try migrator.run { done, total in
                #expect(total == rows.objects.count)
                progress.append(done)
            }
            #expect(report.images == rows.objects.count && report.imagesNew == rows.objects.count && report.urls == rows.sources.count)
            #expect(progress.count > rows.objects.count / 7 && progress.last == rows.objects.count)
            let (copied, original) = (try Cache.open(configuration, for: .reading).index.contents(), try local.contents())
            #expect(copied.sources == original.sources)
            #expect(copied.objects == original.objects)
            #expect(copied.thumbnails.mapValues { Set($0) } == original.thumbnails.mapValues { Set($0) })
            #expect(copied.references.mapValues { Set($0) } == original.references.mapValues { Set($0) })
            #expect(copied.references[SyntheticIndex.logoURL]?.count == 1_500)
            let shared = try #require(try Cache.open(configuration, for: .reading).index as? PostgresIndex)
            #expect(try shared.pruneInventory(referencedURLs: nil, staleBefore: .distantPast).images.filter { $0.lastServed == served }.count == 20)
            // The planner's statistics are fresh (ANALYZE by migrate itself, not autovacuum's).
            #expect(try server.psql(database, """
                SELECT COUNT(*) FROM pg_stat_user_tables
                WHERE relname IN ('objects', 'sources', 'seed_references') AND last_analyze IS NOT NULL
                """) == "3")
        }
    }

    @Test("migrate copies a local cache into PostgreSQL and the bucket, re-hashing files; a second run copies nothing; a damaged file is left out (exit 2)")
    func migrate() async throws {
        try await SocketHelper.offPool { try Self.migrateBody() }
    }

    static func migrateBody() throws {
        let server = try #require(PostgresServer.shared)
        let seaweed = try #require(SeaweedFS.shared, "\(SeaweedFS.skipReason)")
        let directory = try TemporaryDirectory()
        let photo = try Fixtures.data("../colour/srgb-twin.jpg")
        let origin = try TestOrigin { request, _ in
            guard let n = Int(request.path.dropFirst(5).prefix { $0.isNumber }) else { return .respond(status: 404, headers: [:], body: Data()) }
            return .respond(status: 200, headers: ["Content-Type": "image/jpeg"], body: photo + Data("\n\(n)".utf8))
        }
        let seeds = directory.url.appendingPathComponent("seeds")
        try SeedFiles.write(seeds, urls: (0..<4).map { (origin.url("/img/\($0).jpg"), nil) } + [(origin.url("/missing.jpg"), nil)])
        let cache = directory.url.appendingPathComponent("cache").path
        let local = directory.url.appendingPathComponent("local.yml").path
        let variants = "variants:\n  thumb: {size: 160x160, formats: [webp, jpeg]}\nallowPrivate: [127.0.0.1]\n"
        try variants.write(toFile: local, atomically: true, encoding: .utf8)
        #expect(try Executable.run(["sync", seeds.path, "--cache", cache, "--config", local]).status == 1, "one URL fails")
        let before = try CacheStatus.load(cacheDirectory: cache)

        let database = try server.makeDatabase()
        let prefix = SeaweedFS.uniquePrefix()
        let shared = directory.url.appendingPathComponent("shared.yml").path
        try (variants + """
            index: \(database)
            store: s3://\(seaweed.bucket)/\(prefix)
            storeEndpoint: \(seaweed.endpoint)
            storeAccessKey: \(seaweed.accessKey)
            storeSecretKey: \(seaweed.secretKey)
            """).write(toFile: shared, atomically: true, encoding: .utf8)
        let first = try Executable.run(["migrate", "--cache", cache, "--config", shared, "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        let report = try JSONDecoder().decode(MigrationReport.self, from: Data(first.stdout.utf8))
        #expect(report.images == 4 && report.imagesNew == 4 && report.urls == 5 && report.filesUploaded == 12, "\(report)")

        // The shared backends now say what the local cache said, URL for URL.
        var sharedConfiguration = ImgCacheKit.Configuration()
        sharedConfiguration.cacheDirectory = cache
        sharedConfiguration.index = try PostgresLocation.parse(database)
        let after = try CacheStatus.load(Cache.open(sharedConfiguration, for: .reading))
        #expect(after.images.map(\.url) == before.images.map(\.url) && after.images.map(\.isCached) == before.images.map(\.isCached))
        let bucket = S3BlobStore(S3Location(endpoint: seaweed.endpoint, bucket: seaweed.bucket, prefix: prefix,
                                            accessKey: seaweed.accessKey, secretKey: seaweed.secretKey))
        let index = try PostgresIndex(PostgresLocation.parse(database))
        for object in try index.storedFiles().objects { #expect(bucket.hash(.original(object.digest))?.digest == object.digest) }

        let again = try Executable.run(["migrate", "--cache", cache, "--config", shared, "--json"])
        let second = try JSONDecoder().decode(MigrationReport.self, from: Data(again.stdout.utf8))
        #expect(again.status == 0 && second.imagesNew == 0 && second.filesUploaded == 0, "\(second)")

        // A local original that is not what its name says is never uploaded.
        let damaged = try #require(before.images.first { $0.digest != nil }?.digest)
        let path = try BlobStore(root: URL(fileURLWithPath: cache)).objectPath(damaged)
        try Data("not the photo".utf8).write(to: URL(fileURLWithPath: path))
        let fresh = try server.makeDatabase()
        try String(contentsOfFile: shared, encoding: .utf8).replacingOccurrences(of: database, with: fresh)
            .replacingOccurrences(of: prefix, with: prefix + "-2").write(toFile: shared, atomically: true, encoding: .utf8)
        let third = try Executable.run(["migrate", "--cache", cache, "--config", shared])
        #expect(third.status == 2 && third.stderr.contains("left out \(damaged)") && third.stderr.contains("SHA-256"), "\(third.stderr)")
        #expect(try PostgresIndex(PostgresLocation.parse(fresh)).object(damaged) == nil)
    }
}
