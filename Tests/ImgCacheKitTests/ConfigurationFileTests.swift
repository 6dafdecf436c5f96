import CacheStore
import Fetching
import Foundation
import ImageCore
import ImgCacheKit
import TestSupport
import Testing

@Suite("Configuration file")
struct ConfigurationFileTests {
    @Test("the example configuration in the repository loads and equals the defaults")
    func example() throws {
        let path = Fixtures.repositoryRoot.appendingPathComponent("imgcache.example.yml").path
        let loaded = try Configuration.load(path: path)
        let defaults = Configuration()
        #expect(Set(loaded.variants) == Set(defaults.variants))
        #expect(loaded.minTTL == 24 * 3600)
        #expect(loaded.fetch.maxConcurrent == 16 && loaded.fetch.maxPerHost == 6)
        #expect(loaded.fetch.addressPolicy == defaults.fetch.addressPolicy)
        #expect(loaded.decode == defaults.decode)
        #expect(loaded.cacheDirectory == defaults.cacheDirectory && loaded.replicaCacheBytes == defaults.replicaCacheBytes)
        #expect(loaded.minTTL == defaults.minTTL && loaded.maxInputBytes == defaults.maxInputBytes && loaded.dashboard == defaults.dashboard)
        #expect(loaded.fetch == defaults.fetch && loaded.index == nil && loaded.store == nil)
    }

    @Test("store: an S3 location with endpoint, region, credentials and a replica budget; a bad one is refused by name")
    func store() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url.appendingPathComponent("c.yml").path
        try """
            store: s3://images/site/cache
            storeEndpoint: http://127.0.0.1:8333
            storeRegion: eu-central-1
            storeAccessKey: key
            storeSecretKey: secret
            replicaCache: 512MB
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let c = try Configuration.load(path: path)
        let store = try #require(c.store)
        #expect(store.bucket == "images" && store.prefix == "site/cache" && store.endpoint == "http://127.0.0.1:8333")
        #expect(store.region == "eu-central-1" && store.accessKey == "key" && store.secretKey == "secret")
        #expect(c.replicaCacheBytes == 512_000_000)
        #expect(Configuration().store == nil, "the default keeps files in the cache folder")

        try "store: s3://images\nstoreEndpoint: ftp://x\nstoreAccessKey: k\nstoreSecretKey: s\n".write(toFile: path, atomically: true, encoding: .utf8)
        let error = try #require(throws: ConfigurationError.self) { try Configuration.load(path: path) }
        #expect("\(error)".contains(path) && "\(error)".contains("ftp://x"))
    }

    @Test("index: postgres://… in the file or IMGCACHE_INDEX (the variable over the file), else SQLite in the cache folder")
    func index() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url.appendingPathComponent("c.yml").path
        try "cache: /srv/cache\nindex: postgres://imgcache:s3cret@db.internal:6543/images\n".write(toFile: path, atomically: true, encoding: .utf8)
        let c = try Configuration.load(path: path)
        #expect(c.indexLocation == .postgres(PostgresLocation(host: "db.internal", port: 6543, user: "imgcache",
                                                               password: "s3cret", database: "images")))
        #expect(c.index?.description == "postgres://imgcache@db.internal:6543/images", "the password is never shown")
        let environment = ["IMGCACHE_INDEX": "postgresql://site@127.0.0.1/cache", "PGPASSWORD": "pw"]
        let shared = PostgresLocation(host: "127.0.0.1", user: "site", password: "pw", database: "cache")
        #expect(try Configuration.load(path: nil, environment: environment).indexLocation == .postgres(shared))
        #expect(try Configuration.load(path: path, environment: environment).indexLocation == .postgres(shared))
        #expect(try Configuration.load(path: nil, environment: [:]).indexLocation == .sqlite(cacheDirectory: "cache"))
        try "index: sqlite\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try Configuration.load(path: path).indexLocation == .sqlite(cacheDirectory: "cache"))
        #expect(try Configuration.load(path: path, environment: ["IMGCACHE_INDEX": "sqlite"]).index == nil)

        for bad in ["mysql://u@h/db", "postgres://u@h", "postgres://h:5432/db", "postgres://u:hunter2@/db"] {
            try "index: \"\(bad)\"\n".write(toFile: path, atomically: true, encoding: .utf8)
            let error = try #require(throws: ConfigurationError.self, "\(bad)") { try Configuration.load(path: path) }
            #expect("\(error)".contains(path) && "\(error)".contains("postgres://") && !"\(error)".contains("hunter2"), "\(error)")
        }
    }

    @Test("layers: flags over the environment over the file over the defaults, each error naming its source")
    func layers() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url.appendingPathComponent("c.yml").path
        try "concurrency: 4\nperHost: 3\ndashboardToken: from-the-file-0123\nallowedHosts: [a.example]\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let environment = ["IMGCACHE_DASHBOARD_TOKEN": "from-the-environment", "AWS_REGION": "eu-west-3"]
        let c = try Configuration.load(path: path, environment: environment, flags: ["concurrency": "9"])
        #expect(c.fetch.maxConcurrent == 9, "the flag over the file")
        #expect(c.fetch.maxPerHost == 3, "the file over the default")
        #expect(c.dashboardToken == "from-the-environment", "the environment over the file")
        #expect(c.fetch.allowedHosts == ["a.example"] && c.fetch.maxBodyBytes == FetchConfiguration().maxBodyBytes)
        #expect(try Configuration.load(path: path, environment: [:]).dashboardToken == "from-the-file-0123")

        let variable = try #require(throws: ConfigurationError.self) {
            try Configuration.load(path: nil, environment: ["IMGCACHE_INDEX": "mysql://x/y"])
        }
        #expect(variable.message.contains("mysql://x/y"))
        let flag = try #require(throws: ConfigurationError.self) { try Configuration.load(path: nil, environment: [:], flags: ["perHost": "0"]) }
        #expect(flag.message.hasPrefix("--per-host: "), "\(flag)")
        try "concurrency: 4\nmaxPixels: 10\n".write(toFile: path, atomically: true, encoding: .utf8)
        let unknown = try #require(throws: ConfigurationError.self) { try Configuration.load(path: path) }
        #expect(unknown.message.hasPrefix("\(path): line 2: unknown key 'maxPixels'"), "\(unknown)")
    }

    @Test("imgcache.example.yml and docs/configuration.md are what the key table writes, and every key is in both")
    func generatedFiles() throws {
        let root = Fixtures.repositoryRoot
        let example = try String(contentsOf: root.appendingPathComponent("imgcache.example.yml"), encoding: .utf8)
        let reference = try String(contentsOf: root.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        #expect(example == ConfigurationDocs.exampleFile, "run `swift run imgcache docs --out docs` and commit the result")
        #expect(reference == ConfigurationDocs.markdown, "run `swift run imgcache docs --out docs` and commit the result")
        for key in Configuration.keys {
            #expect(reference.contains("| `\(key.name)` |"), "\(key.name)")
            #expect(example.contains("\(key.leaf):"), "\(key.name)")
        }
    }

    @Test("flags' worth of settings: private addresses, hosts, variants")
    func settings() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url.appendingPathComponent("c.yml").path
        try """
            allowPrivate: ["127.0.0.1"]
            blockedHosts: [internal.example]
            minTTL: 90m
            limits: {maxPixels: 1000000, maxFrames: 50, maxAnimationPixels: 2000000}
            variants:
              small: {size: 100x50, fit: cover, quality: 70, format: png, animate: false}
              large: {size: 1280x1280, formats: [avif, webp, jpeg], quality: {jpeg: 82, webp: 78, avif: 55}}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let c = try Configuration.load(path: path)
        #expect(c.fetch.addressPolicy.allowedAddresses == ["127.0.0.1"])
        #expect(c.fetch.blockedHosts == ["internal.example"])
        #expect(c.minTTL == 5400)
        #expect(c.decode.maxPixels == 1_000_000 && c.decode.maxFrames == 50 && c.decode.maxAnimationPixels == 2_000_000)
        #expect(c.variants == [
            Variant(name: "large", spec: ThumbnailSpec(box: Size(width: 1280, height: 1280), fit: .inside),
                    formats: [.avif, .webp, .auto], quality: Variant.Quality(jpeg: 82, webp: 78, avif: 55)),
            {
                var small = Variant(name: "small", spec: ThumbnailSpec(box: Size(width: 100, height: 50), fit: .cover),
                                    formats: [.webp, .png], quality: Variant.Quality(jpeg: 70))
                small.animate = false
                return small
            }(),
        ])
        #expect(c.renditions.map(\.format) == [.avif, .webp, .auto, .webp, .png])
        // A variant that asks for still pictures of animations: its files have keys of their own.
        #expect(c.renditions.map(\.animate) == [true, true, true, false, false])
        #expect(c.renditions[3].specText.hasSuffix(":still") && !c.renditions[0].specText.hasSuffix(":still"))
        #expect(c.renditions.map(\.quality) == [55, 78, 82, 75, 70])
    }

    @Test("a bad configuration names the file and the problem", arguments: [
        "variants:\n  thumb: {size: huge}\n", "minTTL: soon\n", "concurrency: 0\n", "variants: {}\n", "cache: [\n",
        "variants:\n  \"../x\": {size: 10x10}\n",
        // Formats: the fallback must come last, once; no unknown names; quality 1-100 per known format.
        "variants:\n  a: {size: 10x10, formats: [jpeg, webp]}\n", "variants:\n  a: {size: 10x10, formats: [webp]}\n",
        "variants:\n  a: {size: 10x10, formats: [webp, webp, jpeg]}\n", "variants:\n  a: {size: 10x10, formats: [gif]}\n",
        "variants:\n  a: {size: 10x10, formats: [jpeg, png]}\n", "variants:\n  a: {size: 10x10, format: jpeg, formats: [jpeg]}\n",
        "variants:\n  a: {size: 10x10, quality: {webp: 0}}\n", "variants:\n  a: {size: 10x10, quality: {heic: 50}}\n",
        "variants:\n  a: {size: 10x10, format: webp}\n",
    ])
    func bad(text: String) throws {
        let directory = try TemporaryDirectory()
        let path = directory.url.appendingPathComponent("bad.yml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try Configuration.load(path: path)
            Issue.record("loaded")
        } catch {
            #expect(error.message.hasPrefix(path + ": "))
        }
    }

    @Test("durations", arguments: [("90s", 90.0), ("30m", 1800), ("24h", 86400), ("7d", 604800), ("15", 15)])
    func durations(text: String, seconds: Double) {
        #expect(DurationText.parse(text) == seconds)
    }
}
