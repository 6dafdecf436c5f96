@_spi(Testing) import CacheStore
import Foundation
import ImgCacheKit
import TestSupport
import Testing

/// The manifest, `status` and `export` read the index a page at a time. With more rows than
/// a page (1,200 URLs, pages of 13 to 500) they hold what one read of everything gives.
@Suite("Streamed manifest, status and export")
struct StreamedReadsTests {
    typealias Backend = IncrementalSyncTests.Backend

    /// A cache on `backend` holding 1,200 synthetic URLs whose thumbnails are the configured
    /// variants' (nil: PostgreSQL not installed, said as a skip).
    static func cache(_ backend: Backend, in folder: TemporaryDirectory, count: Int = 1_200, logo: Int = 0) throws -> (Cache, SyntheticIndex)? {
        guard let configuration = try IncrementalSyncTests.configuration(backend, cache: folder.url.appendingPathComponent("cache")) else {
            return nil
        }
        let cache = try Cache.open(configuration, for: .writing)
        let rows = SyntheticIndex(count: count, logo: logo) { digest in
            SyncTests.variants.flatMap { variant in
                variant.renditions.map { ($0.thumbnailKey(digest: digest), variant.name, $0.format.resolved(transparent: false)) }
            }
        }
        try rows.fill(cache.index)
        return (cache, rows)
    }

    static func writer(_ cache: Cache, scope: SeedScope = .all, format: ManifestWriter.Format = .json, after: String? = nil,
                       limit: Int? = nil, pageSize: Int) -> ManifestWriter {
        ManifestWriter(index: cache.index, variants: SyncTests.variants, scope: scope, format: format, after: after, limit: limit,
                       pageSize: pageSize) { "/t/" + $0.key }
    }

    static func bytes(_ writer: ManifestWriter) throws -> (Data, chunks: Int) {
        var data = Data(), chunks = 0
        try writer.write { data.append($0); chunks += 1 }
        return (data, chunks)
    }

    @Test("the streamed manifest (pages of 13) is byte for byte the manifest of one full read; NDJSON holds the same images",
          arguments: Backend.allCases)
    func manifestEqualsFullRead(backend: Backend) throws {
        let folder = try TemporaryDirectory()
        guard let (cache, rows) = try Self.cache(backend, in: folder) else { return }
        let full = try Manifest.build(index: cache.index, variants: SyncTests.variants) { "/t/" + $0.key }
        #expect(full.images.count == rows.sources.count)
        #expect(full.images.values.contains { !$0.variants.isEmpty } && full.images.values.contains { $0.focus != nil })
        let (streamed, chunks) = try Self.bytes(Self.writer(cache, pageSize: 13))
        #expect(chunks == 1_200 / 13 + 1)
        let expected = full.json()
        let same = zip(streamed, expected).prefix { $0 == $1 }.count
        #expect(streamed == expected, """
            first difference at byte \(same): streamed …\(String(decoding: streamed.dropFirst(max(0, same - 80)).prefix(160), as: UTF8.self))… \
            full read …\(String(decoding: expected.dropFirst(max(0, same - 80)).prefix(160), as: UTF8.self))…
            """)
        #expect(try JSONDecoder().decode(Manifest.self, from: streamed) == full)

        let (ndjson, _) = try Self.bytes(Self.writer(cache, format: .ndjson, pageSize: 500))
        let lines = ndjson.split(separator: UInt8(ascii: "\n"))
        #expect(lines.count == 1_200)
        for line in lines {
            let url = try JSONDecoder().decode(ManifestLine.self, from: Data(line)).url
            #expect(try JSONDecoder().decode(Manifest.Image.self, from: Data(line)) == full.images[url])
        }
    }

    @Test("a logo 2,500 seeds reference lists its first 1,000 places and says how many there are; streamed as the full read",
          arguments: Backend.allCases)
    func manifestFanIn(backend: Backend) throws {
        let folder = try TemporaryDirectory()
        guard let (cache, rows) = try Self.cache(backend, in: folder, count: 40, logo: 2_500) else { return }
        let full = try Manifest.build(index: cache.index, variants: SyncTests.variants) { "/t/" + $0.key }
        let (streamed, _) = try Self.bytes(Self.writer(cache, pageSize: 7))
        #expect(streamed == full.json())
        let logo = try #require(try JSONDecoder().decode(Manifest.self, from: streamed).images[SyntheticIndex.logoURL])
        let paths = rows.references.filter { $0.url == SyntheticIndex.logoURL }.map(\.seedPath)
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        #expect(logo.placeCount == 2_500)
        #expect(logo.seeds == Array(paths.prefix(1_000)))
        #expect(logo.places?.map(\.seed) == Array(paths.prefix(1_000)))
        #expect(logo.focus == [0.5, 0.5], "logo-1500.md, the only one with a focus, is among the first 1,000")
        // An image with all its places listed has no count.
        #expect(full.images.filter { $0.key != SyntheticIndex.logoURL }.allSatisfy { $0.value.placeCount == nil })
        // The logo's entry is a few hundred kilobytes, not one per article.
        let line = try Self.bytes(Self.writer(cache, scope: .all, format: .ndjson, pageSize: 500)).0
            .split(separator: UInt8(ascii: "\n")).first { $0.starts(with: Data("{\"url\":\"https://img.example/logo".utf8)) }
        #expect((line?.count ?? .max) < 120_000)
    }

    @Test("a seed's and a section's manifest keep their URLs; pages (limit, after) chain by next to the whole",
          arguments: Backend.allCases)
    func scopesAndPages(backend: Backend) throws {
        let folder = try TemporaryDirectory()
        guard let (cache, _) = try Self.cache(backend, in: folder, count: 400) else { return }
        let full = try Manifest.build(index: cache.index, variants: SyncTests.variants) { "/t/" + $0.key }
        let section = try JSONDecoder().decode(Manifest.self, from: Self.bytes(Self.writer(cache, scope: .section("posts/2024"), pageSize: 11)).0)
        #expect(Set(section.images.keys) == Set(full.images.filter { $0.value.seeds.contains { $0.hasPrefix("posts/2024/") } }.keys))
        #expect(!section.images.isEmpty && section.images.count < full.images.count)
        let seed = try JSONDecoder().decode(Manifest.self, from: Self.bytes(Self.writer(cache, scope: .file("about.md"), pageSize: 11)).0)
        #expect(seed == Manifest.build(contents: try cache.index.contents(), variants: SyncTests.variants, seed: "about.md") { "/t/" + $0.key })
        #expect(seed.images.count == 80)

        var merged: [String: Manifest.Image] = [:], after: String?, pages = 0
        repeat {
            let page = try JSONDecoder().decode(Manifest.self, from: Self.bytes(Self.writer(cache, after: after, limit: 150, pageSize: 40)).0)
            pages += 1
            #expect(page.images.count == (pages < 3 ? 150 : 100))
            merged.merge(page.images) { a, _ in a }
            after = page.next
        } while after != nil
        #expect(pages == 3 && merged == full.images)
    }

    @Test("status walks a page at a time: every URL once, in order, with the totals of the whole", arguments: Backend.allCases)
    func statusWalk(backend: Backend) throws {
        let folder = try TemporaryDirectory()
        guard let (cache, rows) = try Self.cache(backend, in: folder) else { return }
        var urls: [String] = [], cachedSeen = 0
        let summary = try CacheStatus.walk(cache, pageSize: 50) { image in
            urls.append(image.url)
            if image.isCached { cachedSeen += 1 }
            #expect(image.variants.count == (image.digest == nil ? 0 : 6), "\(image.url)")
        }
        #expect(urls == rows.sources.map(\.url).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        #expect(summary.imagesCached == cachedSeen && cachedSeen == rows.sources.filter(\.isCached).count)
        #expect(summary.imagesFailed == rows.sources.filter { $0.status == .failed }.count)
        #expect(summary.originals == rows.objects.count && summary.thumbnails == rows.thumbnails.count)
        #expect(summary.originalBytes == rows.objects.map(\.bytes).reduce(0, +))
    }

    @Test("prune walks the index least recently used first: its plan is the whole inventory's plan, for every rule",
          arguments: Backend.allCases)
    func prunePlanStreamed(backend: Backend) throws {
        let folder = try TemporaryDirectory()
        guard let (cache, rows) = try Self.cache(backend, in: folder, count: 600) else { return }
        let created = Date(timeIntervalSince1970: 1_790_000_000), day = 86_400.0
        // A third served later, at scattered times: the order is not the order of writing.
        try cache.index.recordAccess(Dictionary(uniqueKeysWithValues: rows.objects.enumerated().filter { $0.offset % 3 == 0 }.map {
            ($0.element.digest, created.addingTimeInterval(20 * day + Double(($0.offset * 7919) % 600) * 60))
        }), hits: 0, misses: 0)
        let referenced = Set(rows.sources.enumerated().filter { $0.offset % 4 != 0 }.map(\.element.url))
        let now = created.addingTimeInterval(30 * day)
        let total = rows.objects.map(\.bytes).reduce(0, +) + rows.thumbnails.map(\.bytes).reduce(0, +)
        for policy in [PrunePolicy(maxBytes: total / 2, grace: 0), PrunePolicy(maxAge: 15 * day, grace: 0),
                       PrunePolicy(removeUnreferenced: true, grace: 0),
                       PrunePolicy(maxBytes: total / 3, maxAge: 25 * day, removeUnreferenced: true, grace: 12 * day)] {
            let urls = policy.removeUnreferenced ? ReferencedURLs(referenced) : nil
            let inventory = try cache.index.pruneInventory(referencedURLs: urls, staleBefore: now)
            let expected = try PrunePlan.make(images: inventory.images, policy: policy, now: now)
            let streamed = try cache.index.planPrune(referencedURLs: urls, staleBefore: now) { candidates in
                try PrunePlan.make(walking: candidates.walk, policy: policy, now: now, totals: candidates.totals)
            }
            #expect(!expected.removals.isEmpty, "\(policy)")
            #expect(streamed.removals.map(\.digest) == expected.removals.map(\.digest), "\(policy)")
            #expect(streamed.removals.map(\.reason) == expected.removals.map(\.reason), "\(policy)")
            #expect(streamed.bytesAfter == expected.bytesAfter && streamed.keptInGrace == expected.keptInGrace, "\(policy)")
            #expect(streamed.imagesBefore == expected.imagesBefore && streamed.bytesBefore == expected.bytesBefore, "\(policy)")
            #expect(streamed.removals.map(\.thumbnails) == expected.removals.map { _ in 6 }, "every removed image has its 6 thumbnails counted")
        }
    }

    @Test("a prune that removed images refreshes the planner's statistics (ANALYZE); one that removed nothing does not",
          arguments: Backend.allCases)
    func pruneAnalyzes(backend: Backend) throws {
        let folder = try TemporaryDirectory()
        guard let (cache, _) = try Self.cache(backend, in: folder, count: 300) else { return }
        func analyzed() throws -> Int {
            switch cache.index {
            case let sqlite as CacheIndex: return try sqlite.testing.plannerStatisticsRows()
            case let postgres as PostgresIndex:
                return Int(try #require(PostgresServer.shared).psql(postgres.location.database,
                    "SELECT count(*) FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL AND relname IN ('objects', 'sources')")) ?? 0
            default: return -1
            }
        }
        let pruner = Pruner(cache)
        _ = try pruner.run(policy: PrunePolicy(maxAge: 10_000 * 86_400, grace: 0))
        #expect(try analyzed() == 0, "nothing removed: no ANALYZE")
        let report = try pruner.run(policy: PrunePolicy(maxBytes: 10_000, grace: 0))
        #expect(!report.removed.isEmpty)
        #expect(try analyzed() >= 2)
    }

    @Test("a prune of more images than a batch of URLs spools its report: each image once, in the dry run's order, with its URLs",
          arguments: Backend.allCases)
    func pruneReportSpooled(backend: Backend) throws {
        let folder = try TemporaryDirectory()
        guard let (cache, rows) = try Self.cache(backend, in: folder, logo: 3) else { return }
        var urlsOf: [String: [String]] = [:]
        for source in rows.sources { if let digest = source.digest { urlsOf[digest, default: []].append(source.url) } }
        let pruner = Pruner(cache)
        let policy = PrunePolicy(maxBytes: 0, grace: 0)
        let dry = try pruner.run(policy: policy, dryRun: true)
        let real = try pruner.run(policy: policy)
        #expect(real.removedCount == rows.objects.count && real.removedCount > PruneCandidates.urlBatch)
        #expect(real.removedByReason == ["max-size": rows.objects.count] && dry.removedCount == real.removedCount)
        var order: [String] = []
        try real.forEachRemoved { image in
            order.append(image.digest)
            #expect(image.urls == (urlsOf[image.digest] ?? []).sorted(), "\(image.digest)")
        }
        #expect(order == dry.removed.map(\.digest), "the plan's order, dry or real")
        #expect(Set(order) == Set(rows.objects.map(\.digest)) && order.count == rows.objects.count)
        #expect(real.removed.map(\.digest) == order, "read again from the start")
        #expect((urlsOf[rows.objects[0].digest]?.count ?? 0) > 1, "the logo's image has more than one URL")
        let lost = urlsOf.values.flatMap { $0 }.sorted()
        #expect(real.urlsNoLongerCached == lost && real.urlsNoLongerCachedCount == lost.count)
        #expect(try cache.index.source(SyntheticIndex.logoURL)?.isCached == false)
    }

    @Test("export over three pages: the manifest file is the full read's, each file once; unchanged again; an old JSON ledger still read")
    func exportPages() throws {
        let folder = try TemporaryDirectory()
        guard let (cache, rows) = try Self.cache(.sqlite, in: folder) else { return }
        let store = try BlobStore(root: folder.url.appendingPathComponent("cache"))
        for thumbnail in rows.thumbnails { try store.write(Data(count: thumbnail.bytes), to: store.thumbnailPath(thumbnail)) }
        let out = folder.url.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        // An export by an older version: a JSON array ledger naming a file no longer published.
        try Data("stale".utf8).write(to: out.appendingPathComponent("0000stale.jpg"))
        try Data(#"["0000stale.jpg"]"#.utf8).write(to: out.appendingPathComponent(Exporter.ledgerName))

        let first = try Exporter.export(cache, variants: SyncTests.variants, outputDirectory: out.path, baseURL: "/img/")
        let full = try Manifest.build(index: cache.index, variants: SyncTests.variants) { "/img/" + $0.key + "." + $0.fileExtension }
        #expect(try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: first.manifestPath))) == full)
        #expect(first.images == 1_200 && first.files == rows.thumbnails.count && first.linked == rows.thumbnails.count)
        #expect(first.removed == 1 && !FileManager.default.fileExists(atPath: out.appendingPathComponent("0000stale.jpg").path))
        let ledger = try String(contentsOf: out.appendingPathComponent(Exporter.ledgerName), encoding: .utf8)
        #expect(ledger.split(separator: "\n").count == rows.thumbnails.count)

        let second = try Exporter.export(cache, variants: SyncTests.variants, outputDirectory: out.path, baseURL: "/img/")
        #expect(second.unchanged == rows.thumbnails.count && second.removed == 0 && !second.manifestWritten)
        // One variant fewer: its files go, and only they.
        let third = try Exporter.export(cache, variants: Array(SyncTests.variants.dropLast()), outputDirectory: out.path, baseURL: "/img/")
        #expect(third.removed == rows.thumbnails.count / 3 && third.manifestWritten)
        let left = try FileManager.default.contentsOfDirectory(atPath: out.path).filter { !$0.hasPrefix(".") && $0 != "manifest.json" }
        #expect(left.count == rows.thumbnails.count * 2 / 3)
    }
}

/// The `url` of a line of the NDJSON manifest.
struct ManifestLine: Decodable { let url: String }
