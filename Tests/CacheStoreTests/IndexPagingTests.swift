@testable import CacheStore
import Foundation
import TestSupport
import Testing

/// Keyset pages (`IndexPaging`) on every index backend: walked to the end they hold what one
/// read of everything holds, scopes keep the right URLs, and every page query is answered
/// from an index (the database's own plan says so).
@Suite("Paged index reads")
struct IndexPagingTests {
    /// Every page of `scope`, `limit` at a time, merged into one contents.
    static func walk(_ index: any IndexStorage, _ scope: SeedScope, limit: Int) throws -> (IndexContents, pages: Int) {
        var merged = IndexContents()
        var pages = 0
        try index.forEachPage(scope, limit: limit) { page in
            pages += 1
            #expect(page.sources.count <= limit)
            merged.sources += page.sources
            merged.objects.merge(page.objects) { a, _ in a }
            merged.thumbnails.merge(page.thumbnails) { a, _ in a }
            merged.references.merge(page.references) { a, _ in a }
            merged.referenceCounts.merge(page.referenceCounts) { a, _ in a }
            return true
        }
        return (merged, pages)
    }

    @Test("walked page by page (37 URLs a page), the index holds what one full read holds", arguments: IndexBackend.available)
    func pagesEqualFullRead(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let index = try backend.open(in: folder)
        let rows = SyntheticIndex(count: 1_000)
        try rows.fill(index)
        let full = try index.contents()
        let (paged, pages) = try Self.walk(index, .all, limit: 37)
        #expect(pages == 28)  // 1,000 / 37, rounded up
        #expect(paged.sources.map(\.url) == full.sources.map(\.url))
        #expect(paged.sources.map(\.url) == rows.sources.map(\.url).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        #expect(paged.sources == full.sources)
        #expect(paged.objects == full.objects)
        #expect(paged.thumbnails.mapValues { Set($0) } == full.thumbnails.mapValues { Set($0) })
        #expect(paged.references.mapValues { $0.map(\.seedPath) } == full.references.mapValues { $0.map(\.seedPath) })
        // Thumbnail and original pages: every row once, in key order.
        var keys: [String] = [], after: String?
        while case let page = try index.thumbnailsPage(after: after, limit: 101), let last = page.last {
            keys += page.map(\.key)
            after = last.key
        }
        #expect(keys == rows.thumbnails.map(\.key).sorted())
        var digests: [String] = []
        after = nil
        while case let page = try index.objectsPage(after: after, limit: 101), let last = page.last {
            digests += page.map(\.digest)
            after = last.digest
        }
        #expect(digests == rows.objects.map(\.digest).sorted())
        let some = Array(rows.thumbnails.prefix(3).map(\.key)) + ["not-a-key"]
        #expect(try index.knownBlobs(originals: [rows.objects[0].digest, "f00d"], thumbnails: some)
                == Set([rows.objects[0].digest] + some.dropLast()))
    }

    @Test("a logo 2,500 seed files reference: a page holds the first 1,000 in seed order and the count, not 2,500",
          arguments: IndexBackend.available)
    func fanIn(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let index = try backend.open(in: folder)
        let rows = SyntheticIndex(count: 50, logo: 2_500)
        try rows.fill(index)
        let (paged, _) = try Self.walk(index, .all, limit: 20)
        let logo = try #require(paged.references[SyntheticIndex.logoURL])
        let all = rows.references.filter { $0.url == SyntheticIndex.logoURL }.sorted(by: SeedReference.inSeedOrder)
        #expect(logo.count == IndexContents.referencesPerURL)
        #expect(logo.map(\.seedPath) == all.prefix(IndexContents.referencesPerURL).map(\.seedPath))
        #expect(paged.referenceCounts == [SyntheticIndex.logoURL: 2_500])
        #expect(paged.referenceCount(of: SyntheticIndex.logoURL) == 2_500)
        // Every other URL has all its references and no count of its own.
        let full = try index.contents()
        for (url, references) in full.references where url != SyntheticIndex.logoURL {
            #expect(paged.references[url]?.map(\.seedPath) == references.map(\.seedPath))
        }
        #expect(full.references[SyntheticIndex.logoURL]?.count == 2_500, "a full read still reads them all")
        // A page that does not show references reads none, and counts none.
        let bare = try index.contentsPage(.all, after: nil, limit: 100, references: false)
        #expect(bare.references.isEmpty && bare.referenceCounts.isEmpty)
    }

    @Test("scopes: a seed file by path or by its name, a section by folder (not its namesake prefix)", arguments: IndexBackend.available)
    func scopes(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let index = try backend.open(in: folder)
        var rows = SyntheticIndex(count: 300)
        // A file whose folder name starts like the section's: not in it.
        rows.references.append(SeedReference(seedPath: "posts/2024-drafts/x.md", url: rows.sources[1].url, line: 1))
        try rows.fill(index)
        func urls(_ predicate: (SeedReference) -> Bool) -> [String] {
            Set(rows.references.filter(predicate).map(\.url)).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        }
        #expect(try Self.walk(index, .section("posts/2024"), limit: 9).0.sources.map(\.url) == urls { $0.seedPath.hasPrefix("posts/2024/") })
        #expect(try Self.walk(index, .section("posts/2024/"), limit: 500).0.sources.map(\.url) == urls { $0.seedPath.hasPrefix("posts/2024/") })
        #expect(try Self.walk(index, .file("about.md"), limit: 7).0.sources.map(\.url) == urls { $0.seedPath == "about.md" })
        #expect(try Self.walk(index, .file("posts/2023/p0.md"), limit: 2).0.sources.map(\.url) == urls { $0.seedPath == "posts/2023/p0.md" })
        // By name: every file so named, in any folder (p3.md is in 2023, 2024 and 2025).
        #expect(try Self.walk(index, .file("p3.md"), limit: 5).0.sources.map(\.url) == urls { $0.seedPath.hasSuffix("/p3.md") })
        #expect(try Self.walk(index, .file("p_.md"), limit: 5).0.sources.isEmpty, "LIKE's wildcards in a name are literal")
        #expect(try Self.walk(index, .section("nowhere"), limit: 5).0.sources.isEmpty)
    }

    @Test("every page query is answered from an index: EXPLAIN on the backend shows no full scan and no sort", arguments: IndexBackend.available)
    func pageQueriesUseIndexes(backend: IndexBackend) throws {
        let folder = try TemporaryDirectory()
        let index = try backend.open(in: folder)
        try SyntheticIndex(count: 200).fill(index)
        let plans = try index.pagePlans()
        #expect(plans.count == 11)
        Self.expectIndexed(plans, on: backend)
    }

    /// Holds each plan to index use: no full scan of a table and no sort. In SQLite "SCAN t"
    /// alone is a full scan and "SEARCH t USING … INDEX" a B-tree lookup; a virtual table's line
    /// names its index; "SCAN (subquery-1)" reads a LIMIT's rows, not a table.
    static func expectIndexed(_ plans: [String: String], on backend: IndexBackend) {
        for (name, plan) in plans.sorted(by: { $0.key < $1.key }) {
            switch backend {
            case .sqlite:
                let fullScans = plan.split(separator: "\n").filter { line in
                    let text = line.trimmingCharacters(in: .whitespaces)
                    return text.hasPrefix("SCAN ") && !text.contains("USING") && !text.contains("VIRTUAL TABLE INDEX")
                        && !text.hasPrefix("SCAN (subquery")
                }
                #expect(fullScans.isEmpty, "\(name): \(plan)")
                #expect(!plan.contains("TEMP B-TREE"), "\(name) sorts: \(plan)")
                #expect(plan.contains("USING") || plan.contains("VIRTUAL TABLE INDEX"), "\(name): \(plan)")
            case .postgres:
                #expect(!plan.contains("Seq Scan"), "\(name): \(plan)")
                #expect(!plan.contains("Sort"), "\(name) sorts: \(plan)")
                #expect(plan.contains("Index"), "\(name): \(plan)")
            }
        }
    }
}
