import Foundation
@testable import SeedDocuments
import TestSupport
import Testing

@Suite("TOML and JSON front matter")
struct DataFrontMatterTests {
    static let toml = """
        +++
        title = "A post"   # a comment that says isCached = true
        date = 2024-01-05T10:00:00Z
        tags = ["a", "b"]
        alt = 'isCached = false, as text'

        [[images]]
        url = "https://example.com/a.jpg"
        width = 640
        height = 480
        isCached = false

        [[images]]
        url = 'https://example.com/b.png'   # a literal string
        isCached=true

        [[related]]
        title = "Other"
        [[related.images]]
        url = "https://example.com/c.jpg"
        isCached = false
        +++
        The body says isCached = false and keeps saying it.

        """

    @Test("Hugo's TOML front matter: images and related images, their lines, sizes and isCached")
    func readsTOML() throws {
        let document = try SeedParser.parse(Self.toml, path: "post.md")
        #expect(document.problems.isEmpty)
        #expect(document.images.map(\.url) == ["https://example.com/a.jpg", "https://example.com/b.png", "https://example.com/c.jpg"])
        #expect(document.images.map(\.line) == [8, 14, 20])
        #expect(document.images[0].width == 640 && document.images[0].height == 480)
        #expect(document.images.map(\.isCached) == [false, true, false])
        #expect(document.images.map(\.isRelated) == [false, false, true])
    }

    @Test("TOML write-back: only the isCached values change, every other byte (comments, literal strings, the body) stays")
    func writesTOML() throws {
        let states = ["https://example.com/a.jpg": true, "https://example.com/b.png": true, "https://example.com/c.jpg": true]
        let result = try IsCachedWriter.rewrite(Self.toml, path: "post.md", states: states)
        let updated = try #require(result.text)
        #expect(result.valuesChanged == 2 && result.leftAlone.isEmpty)
        let expected = Self.toml
            .replacingOccurrences(of: "height = 480\nisCached = false", with: "height = 480\nisCached = true")
            .replacingOccurrences(of: "c.jpg\"\nisCached = false", with: "c.jpg\"\nisCached = true")
        #expect(updated == expected)
        #expect(try SeedParser.parse(updated, path: "post.md").images.map(\.isCached) == [true, true, true])
        // Nothing to change: no new text.
        #expect(try IsCachedWriter.rewrite(updated, path: "post.md", states: states).text == nil)
    }

    @Test("inline tables, CRLF and a byte order mark: the value replaced in place; an entry without the key is reported")
    func inlineTablesCRLF() throws {
        let text = "\u{FEFF}+++\r\nimages = [\r\n  { url = \"https://example.com/a.jpg\", isCached = false },\r\n"
            + "  { url = \"https://example.com/b.jpg\" },\r\n]\r\n+++\r\nbody\r\n"
        let document = try SeedParser.parse(text, path: "p.md")
        #expect(document.images.map(\.url) == ["https://example.com/a.jpg", "https://example.com/b.jpg"])
        let result = try IsCachedWriter.rewrite(text, path: "p.md", states: ["https://example.com/a.jpg": true, "https://example.com/b.jpg": true])
        #expect(result.text == text.replacingOccurrences(of: "isCached = false", with: "isCached = true"))
        #expect(result.leftAlone.count == 1 && result.leftAlone[0].message.contains("b.jpg") && result.leftAlone[0].message.contains("no isCached key"))
        #expect(result.leftAlone[0].line == 4, "reported with the line of its url")
    }

    static let json = """
        {
          "title": "A JSON post",
          "images": [
            {"url": "https://example.com/a.jpg", "width": 800, "isCached": false},
            {"url":"https://example.com/\\u0062.jpg",   "isCached" :true}
          ],
          "related": [{"images": [{"url": "https://example.com/c.jpg", "alt": "\\"isCached\\": false", "isCached": false}]}]
        }
        The body.

        """

    @Test("Hugo's JSON front matter: read with its escapes; write-back replaces only the values")
    func json() throws {
        let document = try SeedParser.parse(Self.json, path: "post.json")
        #expect(document.images.map(\.url) == ["https://example.com/a.jpg", "https://example.com/b.jpg", "https://example.com/c.jpg"])
        #expect(document.images.map(\.line) == [4, 5, 7] && document.images[0].width == 800)
        #expect(document.images.map(\.isCached) == [false, true, false])
        let states = ["https://example.com/a.jpg": true, "https://example.com/b.jpg": false, "https://example.com/c.jpg": true]
        let result = try IsCachedWriter.rewrite(Self.json, path: "post.json", states: states)
        let updated = try #require(result.text)
        #expect(result.valuesChanged == 3)
        let expected = Self.json
            .replacingOccurrences(of: "\"width\": 800, \"isCached\": false", with: "\"width\": 800, \"isCached\": true")
            .replacingOccurrences(of: "\"isCached\" :true", with: "\"isCached\" :false")
            .replacingOccurrences(of: "false\", \"isCached\": false", with: "false\", \"isCached\": true")
        #expect(updated == expected)
        #expect(try SeedParser.parse(updated, path: "post.json").images.map(\.isCached) == [true, false, true])
    }

    @Test("what cannot be changed safely is left alone and reported: a quoted value, a layout the positions misread")
    func leftAlone() throws {
        let quoted = "+++\n[[images]]\nurl = \"https://example.com/a.jpg\"\nisCached = \"false\"\n+++\n"
        let result = try IsCachedWriter.rewrite(quoted, path: "q.md", states: ["https://example.com/a.jpg": true])
        #expect(result.text == nil && result.leftAlone.first?.line == 4, "\(result.leftAlone)")
        // isCached before url: the position is taken for the entry before; the check after the edit refuses it.
        let misread = "+++\n[[images]]\nurl = \"https://example.com/a.jpg\"\n[[images]]\nisCached = false\nurl = \"https://example.com/b.jpg\"\n+++\n"
        let refused = try IsCachedWriter.rewrite(misread, path: "m.md", states: ["https://example.com/a.jpg": true,
                                                                                 "https://example.com/b.jpg": false])
        #expect(refused.text == nil)
        #expect(refused.leftAlone.contains { $0.message.hasPrefix("the whole file was left alone") }, "\(refused.leftAlone)")
    }

    @Test("a broken or unclosed TOML or JSON front matter is an error naming the file and line")
    func errors() {
        let broken = #expect(throws: SeedError.self) { try SeedParser.parse("+++\ntitle = \n+++\n", path: "b.md") }
        #expect(broken?.line == 2 && broken?.description.contains("invalid TOML front matter") == true, "\(String(describing: broken))")
        let unclosed = #expect(throws: SeedError.self) { try SeedParser.parse("+++\ntitle = \"x\"\n", path: "u.md") }
        #expect(unclosed?.code == .noFrontMatter)
        let json = #expect(throws: SeedError.self) { try SeedParser.parse("{\n  \"images\": [,]\n}\n", path: "j.md") }
        #expect(json?.description.contains("invalid JSON front matter") == true)
        // A URL that is not http(s) is reported with its line and skipped, as in YAML.
        let bad = try? SeedParser.parse("+++\n[[images]]\nurl = \"file:///etc/passwd\"\n+++\n", path: "f.md")
        #expect(bad?.images.isEmpty == true && bad?.problems.first?.line == 3)
    }

    @Test("the TOML and JSON fixtures: every value flipped and flipped back gives the original bytes", arguments: ["hugo-toml.md", "hugo-json.md"])
    func fixtures(name: String) throws {
        let text = try String(contentsOf: Fixtures.repositoryRoot.appendingPathComponent("Tests/Fixtures/seeds/\(name)"), encoding: .utf8)
        let document = try SeedParser.parse(text, path: name)
        #expect(document.images.count == (name == "hugo-toml.md" ? 4 : 3) && document.problems.isEmpty)
        var flipped: [String: Bool] = [:]
        for image in document.images { flipped[image.url] = !(image.isCached ?? false) }
        let first = try IsCachedWriter.rewrite(text, path: name, states: flipped)
        let updated = try #require(first.text)
        let reread = try SeedParser.parse(updated, path: name)
        for image in reread.images where document.images.first(where: { $0.url == image.url })?.isCached != nil {
            #expect(image.isCached == flipped[image.url], "\(image.url)")
        }
        // An entry without the key is reported, never given one.
        #expect(first.leftAlone.count == document.images.filter { $0.isCached == nil }.count)
        var back: [String: Bool] = [:]
        for image in document.images { back[image.url] = image.isCached ?? false }
        #expect(try IsCachedWriter.rewrite(updated, path: name, states: back).text == text)
    }

    @Test("TOML that toml++ 3.4 aborts on (an assertion: FuzzSeeds found three) is refused first, with its line; valid TOML reads",
          arguments: [("toml-datetime-assert.md", 3), ("toml-key-assert.md", 3), ("toml-cr-assert.md", 13)])
    func tomlAssertions(name: String, line: Int) throws {
        let text = try String(decoding: Fixtures.data("../fuzz/\(name)"), as: UTF8.self)
        let error = #expect(throws: SeedError.self) { try SeedParser.parse(text, path: "f.md") }
        #expect(error?.line == line && error?.message.hasPrefix("invalid TOML front matter") == true, "\(String(describing: error))")
        #expect(throws: SeedError.self) { try IsCachedWriter.rewrite(text, path: "f.md", states: [:]) }
    }

    @Test("the TOML screen: refuses malformed shapes before toml++, lets every form of TOML's values through")
    func tomlScreen() throws {
        for bad in ["d = 2025-03-01T", "d = 2025-03-01t=9", "d = 2025-03-01Tx9:00:00", "[ = 1", "[[a] ]", "a = [1, 2", "a = { b = 1",
                    "a = ", "= 1", "a = 1 2", "a = \"open", "a.b. = 1", "a = [[[[" + String(repeating: "[", count: 100)] {
            #expect(TOMLScreen.problem(in: bad + "\n") != nil, "\(bad)")
        }
        let good = """
            title = "t" # comment
            'quoted key' = 'literal'
            "a".b = 1
            dotted.key-name_2 = -17
            floats = [1.5, -0.01, 5e+22, 6.626e-34, 1_000.5, inf, -nan]
            ints = [0xDEAD, 0xdead_beef, 0o755, 0b1101, +99, 1_000]
            dates = [1979-05-27T07:32:00Z, 1979-05-27T00:32:00.999999-07:00, 1979-05-27 07:32:00, 1979-05-27, 07:32:00]
            multi = \"\"\"
            several
            lines\"\"\"
            nested = [[1, 2], ["a"], [], {x = 1}]
            empty = {}
            bools = [true, false]
            [params]
            inline = { url = "https://example.com/a.jpg", isCached = false, size = { w = 1, h = 2 } }
            [[related.images]]
            url = "https://example.com/b.jpg"
            """
        #expect(TOMLScreen.problem(in: good) == nil, "\(String(describing: TOMLScreen.problem(in: good)))")
    }

    @Test("a URL with credentials is written back under the URL imgcache keeps (without them), as in YAML")
    func credentials() throws {
        let text = "{\n  \"images\": [{\"url\": \"https://user:secret@example.com/a.jpg\", \"isCached\": false}]\n}\n"
        let document = try SeedParser.parse(text, path: "c.md")
        #expect(document.images.map(\.url) == ["https://example.com/a.jpg"])
        let result = try IsCachedWriter.rewrite(text, path: "c.md", states: ["https://example.com/a.jpg": true])
        #expect(result.text == text.replacingOccurrences(of: "false", with: "true"))
    }
}
