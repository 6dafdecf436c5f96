import Foundation
import SeedDocuments
import TestSupport
import Testing
import Yams

/// The write-back's promise, checked on generated documents: parsed with Yams (its full
/// resolver, independent of the writer's), the document after a write-back is the document
/// before with exactly the `isCached` values of the safe entries set; entries the generator
/// knows cannot be changed in place are reported and left alone; a file with nothing written
/// is byte-identical.
@Suite("isCached write-back round trip")
struct WriteBackRoundTripTests {
    @Test("generated documents in 22 YAML forms × random isCached states")
    func roundTrip() throws {
        var random = SplitMix64(seed: 0x5EED)
        var formsSeen = Set<String>()
        var changedFiles = 0, leftAloneEntries = 0
        for iteration in 0..<600 {
            let document = GeneratedSeed.make(&random)
            formsSeen.formUnion(document.forms)
            let result = try IsCachedWriter.rewrite(document.text, path: "seed-\(iteration).md", states: document.states)
            let expectedLeftAlone = document.entries.filter { !$0.safe && document.states[$0.url] != nil }.count
            #expect(result.leftAlone.count == expectedLeftAlone,
                    "iteration \(iteration): \(result.leftAlone.map(\.description))\n\(document.text)")
            leftAloneEntries += result.leftAlone.count
            guard let updated = result.text else { continue }
            changedFiles += 1
            #expect(result.leftAlone.allSatisfy { $0.line != nil && $0.code == .leftAlone })
            try checkSameData(before: document, after: updated, iteration: iteration)
            // Bytes outside the front matter (the BOM, the fences, the body) are as they were.
            let (beforeHead, beforeTail) = try frame(document.text)
            let (afterHead, afterTail) = try frame(updated)
            #expect(beforeHead == afterHead && beforeTail == afterTail, "iteration \(iteration)")
            // And the seed parser reads the values written.
            let parsed = try SeedParser.parse(updated, path: "x")
            for entry in document.entries where entry.safe {
                guard let wanted = document.states[entry.url] else { continue }
                #expect(parsed.images.filter { $0.url == entry.url }.allSatisfy { $0.isCached == wanted })
            }
        }
        #expect(formsSeen.count >= 22, "forms seen: \(formsSeen.sorted())")
        #expect(changedFiles > 300 && leftAloneEntries > 100)
    }

    @Test("the write-back of a scanned file (positions from the scan) writes exactly what a fresh parse writes")
    func scannedPositions() throws {
        var random = SplitMix64(seed: 0xFA57)
        let directory = try TemporaryDirectory()
        var fastPaths = 0
        for iteration in 0..<300 {
            let document = GeneratedSeed.make(&random)
            let path = directory.url.appendingPathComponent("seed-\(iteration).md").path
            try Data(document.text.utf8).write(to: URL(fileURLWithPath: path))
            let scanned = try SeedScanner.load(path).get()
            if scanned.images.allSatisfy({ document.states[$0.url] == nil || $0.isCachedSite != .other }) { fastPaths += 1 }
            let expected = try IsCachedWriter.rewrite(document.text, path: path, states: document.states)
            let result = try IsCachedWriter.writeBack(scanned, states: document.states)
            let written = try Data(contentsOf: URL(fileURLWithPath: path))  // bytes: String(contentsOf:) drops a BOM
            #expect(written == Data((expected.text ?? document.text).utf8), "iteration \(iteration)\n\(document.text)")
            #expect(result.written == (expected.text != nil))
        }
        #expect(fastPaths > 30, "documents written from the scan's positions alone: \(fastPaths)")

        // A file changed after the scan is parsed again, never edited at stale positions.
        let path = directory.url.appendingPathComponent("changed.md").path
        try "---\nimages:\n  - url: https://a.example/1.jpg\n    isCached: false\n---\n".write(toFile: path, atomically: true, encoding: .utf8)
        let scanned = try SeedScanner.load(path).get()
        let edited = "---\ntitle: added by the user\nimages:\n  - url: https://a.example/1.jpg\n    isCached: false\n---\n"
        try edited.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try IsCachedWriter.writeBack(scanned, states: ["https://a.example/1.jpg": true]).written)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == edited.replacingOccurrences(of: "false", with: "true"))
    }

    /// The data after equals the data before with each safe entry's isCached set.
    private func checkSameData(before document: GeneratedSeed, after updated: String, iteration: Int) throws {
        let beforeYAML = try #require(try? FrontMatter.locate(in: document.text).get().yaml)
        let afterYAML = try #require(try? FrontMatter.locate(in: updated).get().yaml, "iteration \(iteration): no front matter")
        var expected = try #require(try Yams.load(yaml: beforeYAML))
        for entry in document.entries where entry.safe {
            guard let wanted = document.states[entry.url] else { continue }
            expected = setIsCached(expected, article: entry.article, index: entry.index, to: wanted)
        }
        let actual = try Yams.load(yaml: afterYAML)
        #expect(canonical(actual as Any) == canonical(expected),
                "iteration \(iteration):\n--- before\n\(document.text)\n--- after\n\(updated)")
    }

    /// The text before the YAML and after it.
    private func frame(_ text: String) throws -> (Substring, Substring) {
        let range = try FrontMatter.locate(in: text).get().range
        return (text[..<range.lowerBound], text[range.upperBound...])
    }

    private func setIsCached(_ root: Any, article: Int?, index: Int, to value: Bool) -> Any {
        func update(_ images: Any?) -> Any? {
            guard var list = images as? [Any], index < list.count, var entry = list[index] as? [AnyHashable: Any] else { return images }
            entry["isCached"] = value
            list[index] = entry
            return list
        }
        guard var mapping = root as? [AnyHashable: Any] else { return root }
        if let article {
            guard var related = mapping["related"] as? [Any], article < related.count,
                  var fields = related[article] as? [AnyHashable: Any] else { return root }
            fields["images"] = update(fields["images"])
            related[article] = fields
            mapping["related"] = related
        } else {
            mapping["images"] = update(mapping["images"])
        }
        return mapping
    }

    /// A text form of loaded YAML that is equal exactly when the data is (mappings by sorted key).
    private func canonical(_ value: Any) -> String {
        if let mapping = value as? [AnyHashable: Any] {
            let pairs = mapping.map { (canonical($0.key.base), canonical($0.value)) }.sorted { $0.0 < $1.0 }
            return "{" + pairs.map { "\($0.0): \($0.1)" }.joined(separator: ", ") + "}"
        }
        if let list = value as? [Any] { return "[" + list.map(canonical).joined(separator: ", ") + "]" }
        return "\(type(of: value))(\(String(reflecting: value)))"
    }
}
