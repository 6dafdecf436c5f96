@_spi(Testing) import CacheStore
import Fetching
import Foundation
import Hummingbird
import HummingbirdTesting
import ImgCacheKit
import ImgCacheServer
import Logging
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("imgcache serve with prune", .serialized)
struct PruneServingTests {
    /// Puts `data` in the cache as an original (its bytes need not be an image to be served).
    static func storeOriginal(_ data: Data, in served: ServedCache) throws -> String {
        let digest = BlobStore.digest(data)
        try served.service.store.local.write(data, to: served.service.store.local.objectPath(digest))
        try served.service.index.testing.insert(objects: [ObjectRecord(digest: digest, bytes: data.count, format: .jpeg, width: 1, height: 1,
                                                                       createdAt: Date().addingTimeInterval(-86400))])
        return digest
    }

    @Test("prune while a slow client streams an 8 MB original: the file is unlinked, the client still gets every byte")
    func pruneDuringSlowStream() async throws {
        let served = try ServedCache()
        var generator = SystemRandomNumberGenerator()
        let data = Data((0..<8_000_000).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let digest = try Self.storeOriginal(data, in: served)
        let path = served.service.store.local.objectPath(digest)
        try await served.application.test(.live) { client in
            let port = try #require(client.port)
            // The client and the prune are blocking code: they run on a thread of their own, never
            // on the cooperative pool the servers need.
            let (first, second) = try await SocketHelper.offPool {
                try Self.slowDownload(port: port, path: "/o/\(digest).jpg") {
                    // Everything goes: rows in one transaction, then the files.
                    let report = try Pruner(store: served.service.store, index: served.service.index)
                        .run(policy: PrunePolicy(maxBytes: 0, grace: 0))
                    #expect(report.removed.contains { $0.digest == digest })
                    #expect(!FileManager.default.fileExists(atPath: path))
                }
            }
            let separator = Data("\r\n\r\n".utf8)
            let split = try #require(first.range(of: separator))
            let head = String(decoding: first[..<split.lowerBound], as: UTF8.self)
            let body = first[split.upperBound...]
            #expect(head.hasPrefix("HTTP/1.1 200"))
            #expect(head.lowercased().contains("content-length: 8000000"))
            #expect(body.count == data.count)
            #expect(BlobStore.digest(Data(body)) == digest)
            // A new request after the prune: 404 (the file cannot be opened; the server forgets it).
            #expect(String(decoding: second, as: UTF8.self).hasPrefix("HTTP/1.1 404"))
        }
    }

    /// GETs `path` with a small receive window, reads 64 KB, runs `meanwhile`, reads the rest;
    /// then GETs it once more. Returns both raw responses.
    static func slowDownload(port: Int, path: String, meanwhile: () throws -> Void) throws -> (Data, Data) {
        func get(_ meanwhile: () throws -> Void) throws -> Data {
            let fd = try SocketHelper.connect(port: port, timeout: 30)
            defer { close(fd) }
            var window: Int32 = 64 * 1024
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &window, socklen_t(MemoryLayout<Int32>.size))
            SocketHelper.send(fd, "GET \(path) HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            var received = Data()
            var buffer = [UInt8](repeating: 0, count: 16 * 1024)
            func readSome() -> Int {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n > 0 { received.append(contentsOf: buffer[0..<n]) }
                return n
            }
            while received.count < 64 * 1024, readSome() > 0 {}
            try meanwhile()
            while readSome() > 0 {}
            return received
        }
        let first = try get(meanwhile)
        return (first, try get {})
    }

    @Test("--prune-every's job prunes inside the server, which then answers 404; /metrics shows the prune time")
    func scheduledPrune() async throws {
        let served = try ServedCache()
        let url = try served.thumbnailURL("/a.jpg")
        let accessLog = AccessLog(index: served.service.index)
        let metrics = ServerMetrics()
        let app = Application(router: buildRouter(service: served.service, metrics: metrics, accessLog: accessLog))
        try await app.test(.router) { client in
            try await client.execute(uri: url, method: .get) { #expect($0.status == .ok) }
        }
        var configuration = ServerConfiguration()
        configuration.cache.cacheDirectory = served.cache.path
        configuration.prune = PruneSchedule(every: .seconds(3600), policy: PrunePolicy(maxBytes: 0, grace: 0))
        let jobs = scheduledJobs(configuration, service: served.service, logger: Logger(label: "test"))
        #expect(jobs.map(\.name) == ["prune"])
        await jobs[0].runOnce()

        try await app.test(.router) { client in
            try await client.execute(uri: url, method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                let line = text.split(separator: "\n").first { $0.hasPrefix("imgcache_last_prune_timestamp_seconds") }
                let value = line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
                #expect(abs(value - Date().timeIntervalSince1970) < 60)
                #expect(text.contains("imgcache_objects 0"))
            }
        }
        // Hits and misses reach the index in the next batch, for `imgcache stats`.
        try accessLog.flush()
        let (hits, misses) = (try served.service.index.testing.counter(MetaKey.servedHits),
                              try served.service.index.testing.counter(MetaKey.servedMisses))
        #expect(hits == 1 && misses == 1)
    }

    @Test("--sync-every's job syncs a seeds folder inside the server; the server then serves the new image")
    func scheduledSync() async throws {
        let served = try ServedCache()
        let seeds = served.directory.url.appendingPathComponent("more-seeds")
        try SeedFiles.write(seeds, urls: [(served.origin.url("/c.jpg"), nil)])
        var sync = ImgCacheKit.Configuration()
        sync.cacheDirectory = served.cache.path
        sync.variants = served.variants
        sync.fetch.addressPolicy = AddressPolicy(allowedAddresses: ["127.0.0.1"])
        var configuration = ServerConfiguration()
        configuration.sync = SyncSchedule(every: .seconds(3600), seedsDirectory: seeds.path, configuration: sync)
        let jobs = scheduledJobs(configuration, service: served.service, logger: Logger(label: "test"))
        #expect(jobs.map(\.name) == ["sync"] && jobs[0].runAtStart)
        #expect(try served.service.immutableURL(for: served.origin.url("/c.jpg"), variant: "thumb") == nil)
        await jobs[0].runOnce()
        let url = try #require(try served.service.immutableURL(for: served.origin.url("/c.jpg"), variant: "thumb"))
        try await served.application.test(.router) { client in
            try await client.execute(uri: url, method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test("serve's schedule flags are checked: rules need --prune-every, --sync-every needs --seeds (exit 2)")
    func scheduleFlags() throws {
        let served = try ServedCache()
        for arguments in [["--max-size", "1GiB"], ["--prune-every", "6h"], ["--sync-every", "1h"], ["--seeds", "x"],
                          ["--prune-every", "soon", "--max-age", "1d"]] {
            let result = try Executable.run(["serve", "--cache", served.cache.path] + arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
        }
    }

    @Test("a prune by another process is noticed on the access log's next tick")
    func externalPruneNoticed() throws {
        let served = try ServedCache()
        let noticed = Counter()
        let accessLog = AccessLog(index: served.service.index, onPrune: { noticed.add() })
        accessLog.checkForPrune()
        #expect(noticed.value == 0)
        let other = try Pruner(cacheDirectory: served.cache.path)
        _ = try other.run(policy: PrunePolicy(maxAge: 365 * 86400))
        accessLog.checkForPrune()
        accessLog.checkForPrune()
        #expect(noticed.value == 1)
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
