import Foundation
import SeedDocuments
import TestSupport
import Testing
import Yams

@Suite("Seed documents under hostile or unusual input")
struct SeedTrustTests {
    @Test("values that cannot be changed in place are left alone and reported with seed:line and the reason")
    func leftAloneReasons() throws {
        let text = """
            ---
            images:
              - {url: "https://a.example/flow.jpg", width: 451}
              - url: https://a.example/anchor.jpg
                isCached: &c false
              - url: https://a.example/alias.jpg
                isCached: *c
              - url: https://a.example/tag.jpg
                isCached: !!bool false
              - url: https://a.example/block.jpg
                isCached: |-
                  false
              - url: https://a.example/ok.jpg
                isCached: false
            ---

            """
        let urls = ["flow", "anchor", "alias", "tag", "block", "ok"].map { "https://a.example/\($0).jpg" }
        let result = try IsCachedWriter.rewrite(text, path: "post.md", states: Dictionary(uniqueKeysWithValues: urls.map { ($0, true) }))
        let reported = result.leftAlone.map(\.description)
        #expect(reported.count == 5)
        #expect(reported[0].hasPrefix("post.md:3: left alone: isCached for https://a.example/flow.jpg left alone: a flow-style entry"))
        #expect(reported[1].hasPrefix("post.md:5:") && reported[1].contains("anchored or an alias"))
        // The alias resolves to the anchored value: reported where that value stands.
        #expect(reported[2].contains("alias.jpg") && reported[2].contains("anchored or an alias"))
        #expect(reported[3].hasPrefix("post.md:9:") && reported[3].contains("has a tag"))
        #expect(reported[4].hasPrefix("post.md:11:") && reported[4].contains("block scalar"))
        let updated = try #require(result.text)
        #expect(updated == text.replacingOccurrences(of: "ok.jpg\n    isCached: false", with: "ok.jpg\n    isCached: true"))
        #expect(result.valuesChanged == 1)
    }

    @Test("a byte order mark and CRLF line endings stay through a write-back to the file")
    func byteOrderMark() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url.appendingPathComponent("bom.md").path
        let text = "\u{FEFF}---\r\nimages:\r\n  - url: https://a.example/1.jpg\r\n    isCached: false\r\n---\r\nBody\r\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        let scanned = SeedScanner.scan(directory: directory.path)
        #expect(scanned.documents.first?.images.first?.isCached == false)
        #expect(try IsCachedWriter.writeBack(path: path, states: ["https://a.example/1.jpg": true]).written)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(Array(bytes.prefix(3)) == [0xEF, 0xBB, 0xBF])
        #expect(bytes == Data(text.replacingOccurrences(of: "isCached: false", with: "isCached: true").utf8))
    }

    @Test("symbolic links to files are followed inside and outside the folder; links that cannot be are reported")
    func symbolicLinks() throws {
        let directory = try TemporaryDirectory()
        let seeds = directory.url.appendingPathComponent("seeds")
        let elsewhere = directory.url.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: seeds, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        let seed = { (url: String) in "---\nimages:\n  - url: \(url)\n    isCached: false\n---\n" }
        try seed("https://a.example/inside.jpg").write(to: seeds.appendingPathComponent("real.md"), atomically: true, encoding: .utf8)
        try seed("https://a.example/outside.jpg").write(to: elsewhere.appendingPathComponent("shared.md"), atomically: true, encoding: .utf8)
        let manager = FileManager.default
        try manager.createSymbolicLink(atPath: seeds.appendingPathComponent("inside-link.md").path, withDestinationPath: "real.md")
        try manager.createSymbolicLink(atPath: seeds.appendingPathComponent("outside-link.md").path,
                                       withDestinationPath: elsewhere.appendingPathComponent("shared.md").path)
        try manager.createSymbolicLink(atPath: seeds.appendingPathComponent("dangling.md").path, withDestinationPath: "gone.md")
        try manager.createSymbolicLink(atPath: seeds.appendingPathComponent("folder-link").path, withDestinationPath: elsewhere.path)

        let scan = SeedScanner.scan(directory: seeds.path)
        #expect(scan.documents.map { URL(fileURLWithPath: $0.path).lastPathComponent } == ["inside-link.md", "outside-link.md", "real.md"])
        #expect(Set(scan.catalog.map(\.url)) == ["https://a.example/inside.jpg", "https://a.example/outside.jpg"])
        #expect(scan.errors.map(\.code) == [.badLink, .badLink])
        #expect(scan.errors.map { URL(fileURLWithPath: $0.path).lastPathComponent } == ["dangling.md", "folder-link"])
        #expect(scan.errors[0].description.contains("cannot be followed"))

        // Writing through a link rewrites the file it points at; the link stays a link.
        let link = seeds.appendingPathComponent("outside-link.md").path
        #expect(try IsCachedWriter.writeBack(path: link, states: ["https://a.example/outside.jpg": true]).written)
        #expect(try manager.destinationOfSymbolicLink(atPath: link) == elsewhere.appendingPathComponent("shared.md").path)
        #expect(try String(contentsOf: elsewhere.appendingPathComponent("shared.md"), encoding: .utf8).contains("isCached: true"))
    }

    @Test("a front matter of aliases is refused whole, naming the file, before it expands")
    func aliasExpansion() throws {
        var text = "---\nimages: &i\n  - url: https://a.example/1.jpg\n    isCached: false\nrelated:\n"
        text += String(repeating: "  - {title: x, images: *i}\n", count: SeedParser.maxImageEntries + 1)
        text += "---\n"
        let error = try #require(throws: SeedError.self) { try SeedParser.parse(text, path: "bomb.md") }
        #expect(error.code == .tooLarge && error.path == "bomb.md")
        #expect(throws: SeedError.self) { try IsCachedWriter.rewrite(text, path: "bomb.md", states: ["https://a.example/1.jpg": true]) }
        // Just under the limit reads every alias as an entry.
        var under = "---\nimages: &i\n  - url: https://a.example/1.jpg\nrelated:\n"
        under += String(repeating: "  - {images: *i}\n", count: SeedParser.maxImageEntries - 1) + "---\n"
        #expect(try SeedParser.parse(under, path: "ok.md").images.count == SeedParser.maxImageEntries)
    }

    @Test("one URL referenced from every document is one catalog entry with every place")
    func sharedURLCatalog() throws {
        let documents = (0..<2_000).map { n in
            SeedDocument(path: "seed-\(n).md", images: [
                ImageReference(url: "https://a.example/logo.png", width: n == 0 ? nil : 64, line: 3, isRelated: false),
                ImageReference(url: "https://a.example/\(n).jpg", line: 7, isRelated: true),
            ])
        }
        let catalog = SeedScan(documents: documents, errors: []).catalog
        #expect(catalog.count == 2_001)
        #expect(catalog[0].url == "https://a.example/logo.png" && catalog[0].references.count == 2_000)
        #expect(catalog[0].width == 64)  // the first declared one
        #expect(catalog[0].references[1999] == SeedLocation(path: "seed-1999.md", line: 3))
        #expect(catalog[1].url == "https://a.example/0.jpg")
    }

    @Test("fuzz finding: a complex mapping key (`? …`) beside an anchored list reads and writes back, only isCached added")
    func complexKey() throws {
        // FuzzSeeds found it: Yams's own `load` force-unwraps on such a key; imgcache composes nodes instead.
        let text = try String(decoding: Fixtures.data("../fuzz/seed-complex-key.md"), as: UTF8.self)
        let document = try SeedParser.parse(text, path: "fuzz.md")
        #expect(document.images.map(\.url) == ["https://img.example/x.jpg"])
        let result = try IsCachedWriter.rewrite(text, path: "fuzz.md", states: ["https://img.example/x.jpg": true])
        let updated = try #require(result.text)
        #expect(try SeedParser.parse(updated, path: "fuzz.md").images.map(\.isCached) == [true])
        // Read with Yams's default resolver, the trees differ only by the isCached pair.
        let before = try #require(try Yams.compose(yaml: FrontMatter.locate(in: text).get().yaml))
        let after = try #require(try Yams.compose(yaml: FrontMatter.locate(in: updated).get().yaml))
        #expect(Self.withoutIsCached(before) == Self.withoutIsCached(after))
        #expect(Self.withoutIsCached(after) != after)
    }

    static func withoutIsCached(_ node: Node) -> Node {
        switch node {
        case .mapping(let mapping):
            let pairs = mapping.filter { $0.key.scalar?.string != "isCached" }.map { (withoutIsCached($0.key), withoutIsCached($0.value)) }
            return .mapping(Node.Mapping(pairs, mapping.tag, mapping.style, nil))
        case .sequence(let sequence):
            return .sequence(Node.Sequence(sequence.map(withoutIsCached), sequence.tag, sequence.style, nil))
        default:
            return node
        }
    }
}
