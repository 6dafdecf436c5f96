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
        let first = try index.recentObjects(limit: 2, offset: 0), third = try index.recentObjects(limit: 2, offset: 4)
        #expect(first.total == 5 && first.rows.map(\.digest) == [images[4].digest, images[3].digest])
        #expect(third.rows.map(\.digest) == [images[0].digest])
        let thumbnails = try index.thumbnails(digests: [images[0].digest, images[1].digest])
        #expect(Set(thumbnails.map(\.digest)) == [images[0].digest, images[1].digest] && thumbnails.count == 4)
        #expect(try index.sources(digest: images[1].digest).map(\.url) == [images[1].url])
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
        let found = try index.seedLocations(urls: ["https://a.example/1.jpg", images[2].url, "https://none.example/x.jpg"])
        #expect(found["https://a.example/1.jpg"] == [SeedLocation(path: "posts/one.md", line: 7), SeedLocation(path: "posts/two.md", line: 3)])
        #expect(found[images[2].url] == [SeedLocation(path: "posts/one.md", line: 12)])
        #expect(found["https://none.example/x.jpg"] == nil)
    }
}
