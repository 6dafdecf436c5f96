import Foundation
import SeedDocuments
import TestSupport
import Testing

@Suite("isCached write-back")
struct IsCachedWriterTests {
    static let telegraph = "https://www.telegraph.co.uk/content/dam/news/2021/08/02/TELEMMGLPICT000197244899_trans_NvBQzQNjv4BqA7N2CxnJWnYI3tCbVBgu9T0aesusvN1TE7a0ddd_esI.jpeg"

    /// The rewritten text, or nil when nothing changes.
    static func rewritten(_ text: String, path: String, states: [String: Bool]) throws -> String? {
        try IsCachedWriter.rewrite(text, path: path, states: states).text
    }

    /// The lines where two texts differ.
    static func differingLines(_ a: String, _ b: String) -> [(String, String)] {
        let x = a.components(separatedBy: "\n"), y = b.components(separatedBy: "\n")
        return zip(x, y).filter { $0 != $1 }
    }

    @Test("on the real seed document only the one value changes; every other byte stays")
    func realSeedOneValue() throws {
        let original = try SeedParserTests.seedText
        let updated = try #require(try Self.rewritten(original, path: "seed", states: [Self.telegraph: false]))
        #expect(updated.count == original.count + 1)  // "true" -> "false"
        let changes = Self.differingLines(original, updated)
        #expect(changes.count == 1)
        #expect(changes.first?.0 == "        isCached: true")
        #expect(changes.first?.1 == "        isCached: false")
        // The secured blob, quoting and everything else are untouched.
        #expect(updated.replacingOccurrences(of: "isCached: false", with: "isCached: true") == original)
    }

    @Test("values that already match change nothing")
    func noChange() throws {
        let original = try SeedParserTests.seedText
        let states = Dictionary(uniqueKeysWithValues: try SeedParser.parse(original, path: "s").images.map { ($0.url, true) })
        #expect(try Self.rewritten(original, path: "seed", states: states) == nil)
        #expect(try Self.rewritten(original, path: "seed", states: ["https://unknown.example/x.jpg": false]) == nil)
    }

    @Test("an entry without isCached gets one, indented like its siblings, after its last field")
    func insertMissing() throws {
        let original = try SeedParserTests.seedText
        let withoutKey = original.replacingOccurrences(
            of: "        width: 2500\n        height: 1563\n        isCached: true\n",
            with: "        width: 2500\n        height: 1563\n")
        #expect(withoutKey != original)
        let updated = try #require(try Self.rewritten(withoutKey, path: "seed", states: [Self.telegraph: true]))
        #expect(updated == original)
    }

    @Test("quoted values, comments after the value and CRLF line endings are handled")
    func styles() throws {
        let text = "---\r\nimages:\r\n  - url: https://a.example/1.jpg\r\n    isCached: \"false\"  # quoted\r\n  - url: https://a.example/2.jpg\r\n    isCached: false # was down\r\n  - url: https://a.example/3.jpg\r\n    width: 10\r\n---\r\nBody\r\n"
        let updated = try #require(try Self.rewritten(text, path: "x", states: [
            "https://a.example/1.jpg": true, "https://a.example/2.jpg": true, "https://a.example/3.jpg": false,
        ]))
        #expect(updated == "---\r\nimages:\r\n  - url: https://a.example/1.jpg\r\n    isCached: true  # quoted\r\n  - url: https://a.example/2.jpg\r\n    isCached: true # was down\r\n  - url: https://a.example/3.jpg\r\n    width: 10\r\n    isCached: false\r\n---\r\nBody\r\n")
        let reparsed = try SeedParser.parse(updated, path: "x")
        #expect(reparsed.images.map(\.isCached) == [true, true, false])
    }

    @Test("a field whose value spans lines keeps its continuation lines before the new key")
    func multilineValue() throws {
        let text = "---\nimages:\n  - url: https://a.example/1.jpg\n    caption: >\n      a long caption\n      on two lines\n\n  - url: https://a.example/2.jpg\n---\n"
        let updated = try #require(try Self.rewritten(text, path: "x", states: ["https://a.example/1.jpg": true]))
        #expect(updated == "---\nimages:\n  - url: https://a.example/1.jpg\n    caption: >\n      a long caption\n      on two lines\n    isCached: true\n\n  - url: https://a.example/2.jpg\n---\n")
    }

    @Test("writeBack writes atomically and only when a value changes")
    func writeBackFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.url.appendingPathComponent("seed.txt").path
        try FileManager.default.copyItem(atPath: SeedParserTests.seedPath, toPath: path)
        #expect(try IsCachedWriter.writeBack(path: path, states: [Self.telegraph: true]).written == false)
        #expect(try IsCachedWriter.writeBack(path: path, states: [Self.telegraph: false]).written == true)
        let reparsed = try SeedParser.parse(try String(contentsOfFile: path, encoding: .utf8), path: path)
        #expect(reparsed.images.first { $0.url == Self.telegraph }?.isCached == false)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["seed.txt"])
    }
}
