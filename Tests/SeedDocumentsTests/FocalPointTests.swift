import SeedDocuments
import Testing

@Suite("focus: [x, y] beside an image's url, in YAML, TOML and JSON front matter")
struct FocalPointTests {
    @Test("a focal point is read in each syntax; an image without one has none")
    func read() throws {
        let yaml = "---\nimages:\n  - url: https://e.com/a.jpg\n    focus: [0.3, 0.75]\n  - url: https://e.com/b.jpg\n---\n"
        let toml = "+++\n[[images]]\nurl = \"https://e.com/a.jpg\"\nfocus = [0.3, 0.75]\n[[images]]\nurl = \"https://e.com/b.jpg\"\n+++\n"
        let json = "{\n" + #""images": [{"url": "https://e.com/a.jpg", "focus": [0.3, 0.75]}, {"url": "https://e.com/b.jpg"}]"# + "\n}\n"
        for (text, path) in [(yaml, "a.md"), (toml, "a.md"), (json, "a.json")] {
            let document = try SeedParser.parse(text, path: path)
            #expect(document.images.map(\.focus) == [FocalPoint(x: 0.3, y: 0.75), nil], "\(path): \(text)")
            #expect(document.problems.isEmpty)
        }
        // Whole numbers are numbers too (the corners).
        let corner = try SeedParser.parse("---\nimages:\n  - url: https://e.com/a.jpg\n    focus: [1, 0]\n---\n", path: "a.md")
        #expect(corner.images.first?.focus == FocalPoint(x: 1, y: 0))
    }

    @Test("a focus that is not two numbers from 0 to 1 is reported with the file, line and url; the image is kept without it",
          arguments: ["[1.5, 0.5]", "[0.5]", "[0.5, 0.5, 0.5]", "0.5", "[a, b]", "[-0.1, 0.2]", "{x: 0.5, y: 0.5}"])
    func refused(focus: String) throws {
        let document = try SeedParser.parse("---\nimages:\n  - url: https://e.com/a.jpg\n    focus: \(focus)\n---\n", path: "p.md")
        #expect(document.images.count == 1 && document.images[0].focus == nil)
        #expect(document.problems.count == 1)
        let text = document.problems.first.map { "\($0)" } ?? ""
        #expect(text.contains("p.md:3") && text.contains("https://e.com/a.jpg") && text.contains("focus must be [x, y]"), "\(text)")
    }
}
