@_spi(Testing) import CacheStore
import Foundation

/// Index rows for tests that need more images than a sync of fixtures makes: `count` URLs in
/// an aggregator's shape (most with their own original, some sharing one, some failed), seed
/// references across three year folders and a shared page, focal points and body images here
/// and there. The same rows on SQLite and PostgreSQL.
public struct SyntheticIndex {
    public var sources: [SourceRecord] = []
    public var objects: [ObjectRecord] = []
    public var thumbnails: [ThumbnailRecord] = []
    public var references: [SeedReference] = []

    /// The URL of the shared logo (`logo:` seed files reference it).
    public static let logoURL = "https://img.example/logo.png"

    /// `thumbnails` gives each original's thumbnail rows (key, variant, format) — the keys
    /// the configured variants would give it, or any. With `logo` above 0, one more URL (the
    /// first original's bytes) is referenced by that many seed files, as a site's logo is by
    /// every article.
    public init(count: Int, logo: Int = 0, thumbnails: (String) -> [(key: String, variant: String, format: StoredFormat)] = { digest in
        [("\(digest)-small", "small", .jpeg), ("\(digest)-small-webp", "small", .webp)]
    }) {
        let created = Date(timeIntervalSince1970: 1_790_000_000)
        var digest = ""
        for n in 0..<count {
            var source = SourceRecord(url: "https://img.example/\(n % 3 == 0 ? "a" : "b")/\(String(format: "%06d", n)).jpg",
                                      status: .ok, updatedAt: created)
            if n % 10 == 9 {
                source.status = .failed
                source.lastError = "http status: 404"
                source.failureKind = FailureKind(named: "http status")
            } else {
                if n % 7 != 1 || digest.isEmpty {  // every seventh shares the original before it
                    let hex = String(n, radix: 16)
                    digest = String(repeating: "0", count: 64 - hex.count) + hex
                    objects.append(ObjectRecord(digest: digest, bytes: 1000 + n, format: .jpeg, width: 800 + n % 5, height: 600,
                                                createdAt: created.addingTimeInterval(Double(n)), blurHash: n % 2 == 0 ? "LKO2?U%2Tw=w" : nil,
                                                dominantColor: n % 2 == 0 ? "#336699" : nil))
                    for (key, variant, format) in thumbnails(digest) {
                        self.thumbnails.append(ThumbnailRecord(key: key, digest: digest, variant: variant, width: 320, height: 240,
                                                               format: format, bytes: 100 + n, createdAt: created, sha256: nil))
                    }
                }
                source.digest = digest
                source.isCached = true
                source.decodedWidth = 800 + n % 5
                source.decodedHeight = 600
            }
            if n % 4 != 3 { (source.declaredWidth, source.declaredHeight) = (800, 600) }
            sources.append(source)
            references.append(SeedReference(seedPath: "posts/\(2023 + n % 3)/p\(n / 4).md", url: source.url, line: 3 + n % 4,
                                            inBody: n % 11 == 5, focusX: n % 13 == 0 ? 0.25 : nil, focusY: n % 13 == 0 ? 0.75 : nil))
            if n % 5 == 0 { references.append(SeedReference(seedPath: "about.md", url: source.url, line: 10 + n)) }
        }
        guard logo > 0, let first = objects.first else { return }
        var logoSource = SourceRecord(url: Self.logoURL, status: .ok, updatedAt: created)
        (logoSource.digest, logoSource.isCached) = (first.digest, true)
        sources.append(logoSource)
        for n in 0..<logo {
            references.append(SeedReference(seedPath: "posts/\(2023 + n % 3)/logo-\(n).md", url: Self.logoURL, line: 2,
                                            focusX: n == 1_500 ? 0.5 : nil, focusY: n == 1_500 ? 0.5 : nil))
        }
    }

    /// Writes the rows into an empty index (SQLite through its test writer, PostgreSQL as
    /// `migrate` imports).
    public func fill(_ index: any IndexStorage) throws {
        switch index {
        case let sqlite as CacheIndex:
            try sqlite.testing.insert(objects: objects, sources: sources, thumbnails: thumbnails)
            try sqlite.replaceSeedReferences(references, at: Date(timeIntervalSince1970: 1_790_000_000))
        case let postgres as PostgresIndex:
            for start in stride(from: 0, to: sources.count, by: 2000) {
                var batch = ImportBatch()
                let urls = Set(sources[start..<min(start + 2000, sources.count)].map(\.url))
                batch.sources = sources.filter { urls.contains($0.url) }
                let digests = Set(batch.sources.compactMap(\.digest))
                batch.objects = objects.filter { digests.contains($0.digest) }
                batch.thumbnails = thumbnails.filter { digests.contains($0.digest) }
                batch.references = references.filter { urls.contains($0.url) }
                _ = try postgres.importBatch(batch) {}
            }
        default:
            fatalError("no synthetic fill for \(type(of: index))")
        }
    }
}
