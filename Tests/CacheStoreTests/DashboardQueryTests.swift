@testable import CacheStore
import Foundation
import TestSupport
import Testing

/// The dashboard's reads, the same on every index backend.
@Suite("Index storage: the dashboard's pages")
struct DashboardQueryTests {
    /// Five images recorded a second apart (the newest last), two failures of one kind and one
    /// of another, one declared size of another shape than the image.
    static func filled(_ backend: IndexBackend, in folder: TemporaryDirectory) throws -> (any IndexStorage, [SampleImage]) {
        let index = try backend.open(in: folder), blobs = try BlobStore(root: folder.url)
        let images = (0..<5).map { SampleImage("img\($0)") }
        for (i, image) in images.enumerated() {
            try blobs.put(image.original, as: .original(image.digest))
            var fetched = image.fetched()
            fetched.object.createdAt = Date(timeIntervalSince1970: 1_700_000_000 + Double(i))
            if i == 2 { (fetched.declaredWidth, fetched.declaredHeight) = (40, 40) }  // 40x30 decoded: 1:1 against 4:3
            if i == 3 { (fetched.declaredWidth, fetched.declaredHeight) = (80, 60) }  // same shape, twice the size: fine
            if i == 1 { (fetched.object.format, fetched.object.frames) = (.gif, 3) }  // an animated GIF
            if i == 3 { fetched.object.format = .gif }                                 // a still one
            _ = try index.recordFetched(fetched, ensureFiles: {}, isCached: { true })
        }
        try index.recordFailures([
            SourceFailure(url: "https://b.example/2.jpg", reason: "http status: 404 Not Found", kind: .httpStatus, declaredWidth: nil, declaredHeight: nil),
            SourceFailure(url: "https://a.example/1.jpg", reason: "http status: 500 (after 3 tries)", kind: .httpStatus, declaredWidth: nil, declaredHeight: nil),
            SourceFailure(url: "https://c.example/3.jpg", reason: "cannot resolve host: c.example", kind: .dns, declaredWidth: nil, declaredHeight: nil),
        ])
        try index.replaceSeedReferences([
            SeedReference(seedPath: "posts/one.md", url: "https://a.example/1.jpg", line: 7),
            SeedReference(seedPath: "posts/two.md", url: "https://a.example/1.jpg", line: 3),
            SeedReference(seedPath: "posts/one.md", url: images[2].url, line: 12),
        ])
        return (index, images)
    }

    @Test("recent originals come newest first, a page at a time, with the total", arguments: IndexBackend.available)
    func recent(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let (index, images) = try Self.filled(backend, in: folder)
        let first = try index.recentObjects(.init(), limit: 2, offset: 0), third = try index.recentObjects(.init(), limit: 2, offset: 4)
        #expect(first.total == 5 && first.rows.map(\.digest) == [images[4].digest, images[3].digest])
        #expect(third.rows.map(\.digest) == [images[0].digest])
        let thumbnails = try index.thumbnails(digests: [images[0].digest, images[1].digest])
        #expect(Set(thumbnails.map(\.digest)) == [images[0].digest, images[1].digest] && thumbnails.count == 4)
        #expect(try index.sources(digest: images[1].digest).map(\.url) == [images[1].url])
    }

    @Test("the images list filters by format and by animation, newest first, with the total", arguments: IndexBackend.available)
    func filtered(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let (index, images) = try Self.filled(backend, in: folder)
        let gifs = try index.recentObjects(ObjectFilter(format: "gif"), limit: 10, offset: 0)
        #expect(gifs.total == 2 && gifs.rows.map(\.digest) == [images[3].digest, images[1].digest])
        let animated = try index.recentObjects(ObjectFilter(animated: true), limit: 10, offset: 0)
        #expect(animated.total == 1 && animated.rows.map(\.digest) == [images[1].digest])
        #expect(try index.recentObjects(ObjectFilter(format: "gif", animated: true), limit: 10, offset: 0).rows.map(\.digest) == [images[1].digest])
        #expect(try index.recentObjects(ObjectFilter(format: "jpeg", animated: true), limit: 10, offset: 0).total == 0)
        let jpegs = try index.recentObjects(ObjectFilter(format: "jpeg"), limit: 2, offset: 2)
        #expect(jpegs.total == 3 && jpegs.rows.map(\.digest) == [images[0].digest])
    }

    @Test("failures group by the kind of error, largest first; a group pages in URL order", arguments: IndexBackend.available)
    func failures(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let (index, _) = try Self.filled(backend, in: folder)
        #expect(try index.failureGroups(limit: 10) == [FailureGroup(kind: .httpStatus, count: 2),
                                                      FailureGroup(kind: .dns, count: 1)])
        let http = try index.failedSources(kind: .httpStatus, limit: 1, offset: 0)
        #expect(http.total == 2 && http.rows.map(\.url) == ["https://a.example/1.jpg"])
        #expect(try index.failedSources(kind: .httpStatus, limit: 1, offset: 1).rows.map(\.url) == ["https://b.example/2.jpg"])
        #expect(try index.failedSources(kind: nil, limit: 10, offset: 0).total == 3)
        #expect(try index.failedSources(kind: .timeout, limit: 10, offset: 0).total == 0)
    }

    @Test("a declared size of another shape than the image is a mismatch; the same shape at another size is not",
          arguments: IndexBackend.available)
    func mismatches(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let (index, images) = try Self.filled(backend, in: folder)
        let found = try index.sizeMismatches(limit: 10, offset: 0)
        #expect(found.total == 1 && found.rows.map(\.url) == [images[2].url])
        #expect(found.rows.first?.declaredHeight == 40 && found.rows.first?.decodedHeight == 30)
    }

    @Test("seed locations: every file and line that names a URL", arguments: IndexBackend.available)
    func seeds(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let (index, images) = try Self.filled(backend, in: folder)
        let found = try index.seedLocations(urls: ["https://a.example/1.jpg", images[2].url, "https://none.example/x.jpg"], perURL: 5)
        #expect(found["https://a.example/1.jpg"] == SeedLocations(first: [SeedLocation(path: "posts/one.md", line: 7),
                                                                         SeedLocation(path: "posts/two.md", line: 3)], total: 2))
        #expect(found[images[2].url] == SeedLocations(first: [SeedLocation(path: "posts/one.md", line: 12)], total: 1))
        #expect(found["https://none.example/x.jpg"] == nil)
        // A URL every article names lists its first places and counts the rest.
        let capped = try index.seedLocations(urls: ["https://a.example/1.jpg"], perURL: 1)
        #expect(capped["https://a.example/1.jpg"] == SeedLocations(first: [SeedLocation(path: "posts/one.md", line: 7)], total: 2))
    }
}

/// The dashboard's search: every condition alone and together, the same on every backend.
@Suite("Index storage: the dashboard's search")
struct DashboardSearchTests {
    /// Every page of `search`, `limit` rows at a time: the URLs in the order read, and the count of the first page.
    static func walk(_ index: any IndexStorage, _ search: SourceSearch, limit: Int) throws -> (urls: [String], count: Int) {
        var urls: [String] = [], after: String? = nil, count = -1
        repeat {
            let page = try index.search(search, after: after, limit: limit)
            if count < 0 { count = page.count }
            #expect(page.rows.count <= limit)
            urls += page.rows.map(\.url)
            after = page.next
        } while after != nil && urls.count < 10_000
        return (urls, count)
    }

    @Test("each condition finds what it names, alone and with the others", arguments: IndexBackend.available)
    func conditions(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let (index, images) = try DashboardQueryTests.filled(backend, in: folder)
        func found(_ search: SourceSearch) throws -> [String] { try Self.walk(index, search, limit: 2).urls.sorted() }
        #expect(try found(SourceSearch(text: "EXAMPLE.com/img")) == images.map(\.url).sorted(), "a part of the URL, in any case")
        #expect(try found(SourceSearch(text: "img_")).isEmpty, "LIKE's wildcards are taken literally")
        #expect(try found(SourceSearch(text: "e.com/img3.j")) == [images[3].url])
        #expect(try found(SourceSearch(failed: true)) == ["https://a.example/1.jpg", "https://b.example/2.jpg", "https://c.example/3.jpg"])
        #expect(try found(SourceSearch(text: "b.example", failed: true)) == ["https://b.example/2.jpg"])
        #expect(try found(SourceSearch(mismatched: true)) == [images[2].url])
        #expect(try found(SourceSearch(text: "img2", mismatched: true)) == [images[2].url])
        #expect(try found(SourceSearch(text: "img1", mismatched: true)).isEmpty)
        #expect(try found(SourceSearch(failed: true, mismatched: true)).isEmpty)
        // A seed file, a folder (with or without its slash); a name's beginning is neither.
        #expect(try found(SourceSearch(seedPath: "posts/one.md")) == ["https://a.example/1.jpg", images[2].url].sorted())
        #expect(try found(SourceSearch(seedPath: "posts")) == ["https://a.example/1.jpg", "https://a.example/1.jpg", images[2].url].sorted())
        #expect(try found(SourceSearch(seedPath: "posts/")) == found(SourceSearch(seedPath: "posts")))
        #expect(try found(SourceSearch(seedPath: "posts/one")).isEmpty)
        #expect(try found(SourceSearch(seedPath: "posts/one.md", failed: true)) == ["https://a.example/1.jpg"])
        #expect(try found(SourceSearch(text: "img2", seedPath: "posts", mismatched: true)) == [images[2].url])
        #expect(try index.search(SourceSearch(failed: true), after: nil, limit: 2).count == 3)
    }

    @Test("pages follow each other without a gap or a repeat, and the count is the matches'", arguments: IndexBackend.available)
    func paging(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let index = try backend.open(in: folder)
        let rows = SyntheticIndex(count: 300)
        try rows.fill(index)
        let seedsOf = Dictionary(grouping: rows.references, by: \.url)
        let searches: [(SourceSearch, (SourceRecord) -> Bool)] = [
            (SourceSearch(text: "/A/0001"), { $0.url.contains("/a/0001") }),
            (SourceSearch(failed: true), { $0.status == .failed }),
            (SourceSearch(text: ".jpg", failed: true), { $0.status == .failed }),
            (SourceSearch(seedPath: "posts/2024"), { seedsOf[$0.url]?.contains { $0.seedPath.hasPrefix("posts/2024/") } == true }),
            // A text narrower than the other condition drives (SQLite): fewer matches than the folder has references.
            (SourceSearch(text: "b/0001", seedPath: "posts/2024"), { source in
                source.url.contains("b/0001") && seedsOf[source.url]?.contains { $0.seedPath.hasPrefix("posts/2024/") } == true
            }),
            (SourceSearch(text: "b/00019", failed: true), { $0.url.contains("b/00019") && $0.status == .failed }),
            (SourceSearch(text: "b/000", seedPath: "posts/2025/", failed: true), { source in
                source.url.contains("b/000") && source.status == .failed
                    && seedsOf[source.url]?.contains { $0.seedPath.hasPrefix("posts/2025/") } == true
            }),
        ]
        for (search, matches) in searches {
            let expected = rows.sources.filter(matches).map(\.url).sorted()
            #expect(!expected.isEmpty, "\(search)")
            let (urls, count) = try Self.walk(index, search, limit: 7)
            #expect(urls.sorted() == expected, "\(search)")
            #expect(count == expected.count, "\(search)")
        }
        if backend == .sqlite {  // which condition drove each: a text's cursor is a rowid, a seed's a path and a URL
            let rare = try index.search(SourceSearch(text: "b/0001", seedPath: "posts/2024"), after: nil, limit: 2)
            #expect(rare.next.flatMap { Int64($0) } != nil, "the rarer text drove the search")
            let common = try index.search(SourceSearch(text: ".jpg", seedPath: "posts/2024"), after: nil, limit: 2)
            #expect(common.next?.contains("\n") == true, "the smaller folder drove it")
        }
    }

    @Test("every search and list statement reads an index: EXPLAIN shows no full scan and no sort", arguments: IndexBackend.available)
    func plans(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let index = try backend.open(in: folder)
        try SyntheticIndex(count: 200).fill(index)
        let plans = try index.dashboardPlans()
        // PostgreSQL plans a folder's first page apart (no cursor condition: see searchBySeed).
        #expect(plans.count == (backend == .postgres ? 13 : 12))
        IndexPagingTests.expectIndexed(plans, on: backend)
        // A text is looked up in the trigram index.
        switch backend {
        case .sqlite: #expect(plans["search by text"]?.contains("VIRTUAL TABLE INDEX") == true && plans["count by text"]?.contains("VIRTUAL TABLE INDEX") == true)
        case .postgres: #expect(plans["count by text"]?.contains("sources_url_trgm") == true, "\(plans["count by text"] ?? "")")
        }
    }
}

/// A sync records each seed by its absolute path; a site's people name them from the seeds folder.
@Suite("Index storage: a seed path named from the seeds folder")
struct SeedPathResolutionTests {
    @Test("the candidates run from the shared folder up to the path as given")
    func candidates() {
        #expect(SeedScope.candidates(for: "posts/2024", lowest: "/srv/seeds/about.md", highest: "/srv/seeds/posts/2025/z.md")
                == ["/srv/seeds/posts/2024", "/srv/posts/2024", "/posts/2024", "posts/2024"])
        #expect(SeedScope.candidates(for: "2024", lowest: "/s/posts/2023/a.md", highest: "/s/posts/2024/b.md")
                == ["/s/posts/2024", "/s/2024", "/2024", "2024"])
        #expect(SeedScope.candidates(for: "/abs/x.md", lowest: "/a", highest: "/b") == ["/abs/x.md"])
        #expect(SeedScope.candidates(for: "posts", lowest: "about.md", highest: "posts/a.md") == ["posts"])
    }

    @Test("a section and a search by a relative path find the absolute paths a sync stored", arguments: IndexBackend.available)
    func resolved(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let (index, images) = try DashboardQueryTests.filled(backend, in: folder)
        // Every seed under posts/: the folder all paths share is posts/ itself, not the seeds folder.
        try index.replaceSeedReferences([
            SeedReference(seedPath: "/srv/site/seeds/posts/2024/a.md", url: images[0].url, line: 3),
            SeedReference(seedPath: "/srv/site/seeds/posts/2024/deep/b.md", url: images[1].url, line: 3),
            SeedReference(seedPath: "/srv/site/seeds/posts/2023/c.md", url: images[2].url, line: 3),
            SeedReference(seedPath: "/srv/site/seeds/posts/2024-drafts/d.md", url: images[3].url, line: 3),
        ])
        func section(_ name: String) throws -> [String] {
            try IndexPagingTests.walk(index, .section(name), limit: 2).0.sources.map(\.url).sorted()
        }
        func search(_ path: String) throws -> [String] {
            try DashboardSearchTests.walk(index, SourceSearch(seedPath: path), limit: 2).urls.sorted()
        }
        #expect(try section("posts/2024") == [images[0].url, images[1].url].sorted())
        #expect(try section("posts/2024/deep") == [images[1].url])
        #expect(try section("posts") == images.prefix(4).map(\.url).sorted())
        #expect(try section("/srv/site/seeds/posts/2023") == [images[2].url])
        #expect(try section("elsewhere").isEmpty)
        // A seed file by its path from the seeds folder (an index lookup), or by its name in any folder.
        #expect(try IndexPagingTests.walk(index, .file("posts/2024/deep/b.md"), limit: 2).0.sources.map(\.url) == [images[1].url])
        #expect(try IndexPagingTests.walk(index, .file("c.md"), limit: 2).0.sources.map(\.url) == [images[2].url])
        #expect(try search("posts/2024") == [images[0].url, images[1].url].sorted())
        #expect(try search("posts/2023/c.md") == [images[2].url])
        #expect(try search("posts/2024-drafts/") == [images[3].url])
        #expect(try search("2024/a.md") == [images[0].url], "named from the folder every seed shares, too")
    }
}
