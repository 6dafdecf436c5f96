import Foundation
import SeedDocuments
import TestSupport
import Testing

@Suite("Seed documents")
struct SeedParserTests {
    static let seedPath = Fixtures.repositoryRoot.appendingPathComponent("seeds/000_b2645a5efb6e71c2.txt").path
    static var seedText: String { get throws { try String(contentsOfFile: seedPath, encoding: .utf8) } }

    static func parseFailure(_ text: String) -> SeedError? {
        do { _ = try SeedParser.parse(text, path: "x.md"); return nil } catch { return error }
    }

    @Test("the real seed document: the article's image and the related articles' images")
    func realSeed() throws {
        let document = try SeedParser.parse(try Self.seedText, path: Self.seedPath)
        #expect(document.problems.isEmpty)
        #expect(document.images.count == 4)
        let article = try #require(document.images.first)
        #expect(article.url == "https://www.jurist.org/news/wp-content/uploads/sites/4/2019/11/communications_technology_1574868315.jpg")
        #expect(article.width == 1280 && article.height == 853)
        #expect(article.isCached == true)
        #expect(!article.isRelated)
        #expect(article.line == 22)
        #expect(document.images.dropFirst().allSatisfy { $0.isRelated })
        #expect(document.images.map(\.width) == [1280, 2500, 1800, 1024])
    }

    @Test("missing fields are nil; a related article without images adds nothing")
    func missingFields() throws {
        let text = """
            ---
            images:
              - url: "https://example.com/a.jpg"
              - url: https://example.com/b.png
                width: 0
                isCached: false
            related:
              - title: no images here
              - images:
                  - url: http://example.com/c.jpg
                    height: 40
            ---
            body
            """
        let document = try SeedParser.parse(text, path: "x.md")
        #expect(document.images.map(\.url) == ["https://example.com/a.jpg", "https://example.com/b.png", "http://example.com/c.jpg"])
        #expect(document.images[0].width == nil && document.images[0].isCached == nil)
        #expect(document.images[1].width == nil)  // 0 is not a size
        #expect(document.images[1].isCached == false)
        #expect(document.images[2].height == 40 && document.images[2].isRelated)
        #expect(document.images.map(\.line) == [3, 4, 10])
    }

    @Test("a url that is not http or https is skipped with its line; the rest is kept")
    func badURL() throws {
        let text = "---\nimages:\n  - url: ftp://example.com/a.jpg\n  - url: file:///etc/passwd\n  - url: https://ok.example/x.jpg\n  - url: not a url\n---\n"
        let document = try SeedParser.parse(text, path: "x.md")
        #expect(document.images.map(\.url) == ["https://ok.example/x.jpg"])
        #expect(document.problems.map(\.line) == [3, 4, 6])
        #expect(document.problems.allSatisfy { $0.code == .invalidURL })
        #expect(document.problems[0].description.hasPrefix("x.md:3: invalid url: ftp://example.com/a.jpg"))
    }

    @Test("invalid YAML names the document line")
    func invalidYAML() throws {
        let error = try #require(Self.parseFailure("---\ntitle: ok\nimages: [unclosed\n  - url: x\n---\n"))
        #expect(error.code == .invalidYAML)
        #expect(error.line != nil && error.line! >= 3)
        #expect(error.description.hasPrefix("x.md:"))
    }

    @Test("no front matter, or one never closed, is reported", arguments: ["# Just markdown\n", "---\ntitle: x\n"])
    func noFrontMatter(text: String) throws {
        let error = try #require(Self.parseFailure(text))
        #expect(error.code == .noFrontMatter)
        #expect(error.line == 1)
    }

    @Test("the scanner walks folders, reads any extension, reports bad files and goes on")
    func scanner() throws {
        let directory = try TemporaryDirectory()
        let nested = directory.url.appendingPathComponent("2024/05")
        try FileManager.default.createDirectory(at: nested, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.seedPath, toPath: directory.url.appendingPathComponent("a.txt").path)
        try "---\nimages:\n  - url: https://www.jurist.org/news/wp-content/uploads/sites/4/2019/11/communications_technology_1574868315.jpg\n  - url: https://example.com/new.png\n---\n"
            .write(to: nested.appendingPathComponent("b.markdown"), atomically: true, encoding: .utf8)
        try "no front matter\n".write(to: nested.appendingPathComponent("notes.md"), atomically: true, encoding: .utf8)
        try Data([0x2D, 0x2D, 0x2D, 0x0A, 0x74, 0x3A, 0x20, 0xFF, 0xFE, 0x0A]).write(to: directory.url.appendingPathComponent("latin1.md"))
        try "---\nimages: [\n---\n".write(to: directory.url.appendingPathComponent("broken.md"), atomically: true, encoding: .utf8)
        try "---\nimages: []\n---\n".write(to: directory.url.appendingPathComponent(".hidden.md"), atomically: true, encoding: .utf8)

        let scan = SeedScanner.scan(directory: directory.path)
        #expect(scan.documents.count == 2)
        #expect(Set(scan.errors.map(\.code)) == [.noFrontMatter, .notUTF8, .invalidYAML])
        #expect(scan.errors.first { $0.code == .notUTF8 }?.line == 2)
        // The shared URL is one image referenced from two files.
        let catalog = scan.catalog
        #expect(catalog.count == 5)
        let shared = try #require(catalog.first)
        #expect(shared.references.count == 2)
        #expect(shared.width == 1280)

        // A batch at a time, in the walk's order (what prune --unreferenced reads): the same
        // documents and errors, in batches of at most two files.
        var batches: [SeedScan] = []
        SeedScanner.scan(directory: directory.path, batch: 2) { batches.append($0) }
        #expect(batches.count == 3 && batches.allSatisfy { $0.documents.count + $0.errors.count <= 2 })
        #expect(batches.flatMap(\.documents).map(\.path).sorted() == scan.documents.map(\.path).sorted())
        #expect(batches.flatMap(\.errors).map(\.description).sorted() == scan.errors.map(\.description).sorted())
    }

    @Test("the walk gives every file in the byte order of its path, as the indexes sort them: a-c before a/b, folders or not")
    func walkInByteOrder() throws {
        let directory = try TemporaryDirectory()
        // `-` (0x2D) and `.` (0x2E) sort below `/` (0x2F), so a name's siblings "a-c" and "a.b"
        // come before the files in folder "a"; upper case before lower; UTF-8's bytes after ASCII.
        let names = ["a-c.md", "a/b.md", "a/z/y.md", "a/z.md", "a.b.md", "a b.md", "ab/c.md", "B.md", "ä.md", "a0/x.md",
                     "z/a-/b.md", "z/a/b.md", "z/a.md", ".hidden.md", "a/.hidden/x.md"]
        for name in names {
            let url = directory.url.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try "notes\n".write(to: url, atomically: false, encoding: .utf8)
        }
        var walked: [String] = []
        let errors = SeedScanner.walk(under: directory.path) { walked.append($0) }
        let root = URL(fileURLWithPath: directory.path).standardizedFileURL.path + "/"
        let expected = names.filter { !$0.hasPrefix(".") && !$0.contains("/.") }.map { root + $0 }
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        #expect(errors.isEmpty)
        #expect(walked == expected)
        #expect(walked.first == root + "B.md" && walked.last == root + "ä.md")
        #expect(SeedScanner.files(under: directory.path).paths == expected)
    }

    @Test("files deleted while a scan runs are gone, not unreadable: no error for them (prune --unreferenced would refuse)")
    func deletedDuringScan() throws {
        let directory = try TemporaryDirectory()
        var paths: [URL] = []
        for n in 0..<3_000 {
            let url = directory.url.appendingPathComponent("p\(n).md")
            try "---\nimages:\n  - url: https://example.com/\(n).jpg\n---\n".write(to: url, atomically: false, encoding: .utf8)
            paths.append(url)
        }
        // Deletes every other file while the scans below run.
        let doomed = paths.enumerated().filter { $0.offset % 2 == 1 }.map(\.element.path)
        let deleter = Thread {
            for path in doomed { unlink(path) }
        }
        var errors: [SeedError] = []
        var scanned = 0
        deleter.start()
        while scanned < 5 || deleter.isExecuting {
            errors += SeedScanner.scan(directory: directory.path).errors
            scanned += 1
        }
        #expect(errors.isEmpty, "\(errors.prefix(3))")
        #expect(SeedScanner.scan(directory: directory.path).documents.count == 1_500)
    }

    @Test("a missing folder is an error, not a crash")
    func missingFolder() {
        let scan = SeedScanner.scan(directory: "/nonexistent/seeds")
        #expect(scan.documents.isEmpty)
        #expect(scan.errors.first?.code == .unreadable)
    }
}
