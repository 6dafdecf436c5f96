import Foundation
import TestSupport
import Testing

@Suite("Generated reference pages")
struct GeneratedDocsTests {
    @Test("docs/cli and docs/configuration.md are what `imgcache docs` writes from the commands and the key table")
    func upToDate() throws {
        let directory = try TemporaryDirectory()
        let out = directory.url.appendingPathComponent("docs")
        let example = directory.url.appendingPathComponent("example.yml")
        let run = try Executable.run(["docs", "--out", out.path, "--example", example.path])
        #expect(run.status == 0, "\(run.stderr)")
        let root = Fixtures.repositoryRoot
        let written = try FileManager.default.subpathsOfDirectory(atPath: out.appendingPathComponent("cli").path).sorted()
        let committed = try FileManager.default.subpathsOfDirectory(atPath: root.appendingPathComponent("docs/cli").path).sorted()
        #expect(written == committed, "a command was added or removed: run `swift run imgcache docs --out docs --example imgcache.example.yml`")
        #expect(written.contains("sync.md") && written.contains("serve.md") && written.contains("README.md"))
        for page in written.map({ "cli/" + $0 }) + ["configuration.md"] {
            let fresh = try String(contentsOf: out.appendingPathComponent(page), encoding: .utf8)
            let old = try String(contentsOf: root.appendingPathComponent("docs").appendingPathComponent(page), encoding: .utf8)
            #expect(fresh == old, "docs/\(page) differs from the code's help: run `swift run imgcache docs --out docs --example imgcache.example.yml`")
        }
        let exampleText = try String(contentsOf: example, encoding: .utf8)
        #expect(exampleText == (try String(contentsOf: root.appendingPathComponent("imgcache.example.yml"), encoding: .utf8)))

        // Each page is its command's own --help, word for word (wrapped at another width).
        func words(_ text: String) -> [String] { text.split(whereSeparator: \.isWhitespace).map(String.init) }
        for command in ["sync", "serve", "prune"] {
            let help = try Executable.run([command, "--help"])
            let page = try String(contentsOf: root.appendingPathComponent("docs/cli/\(command).md"), encoding: .utf8)
            let block = page.components(separatedBy: "```text\n")[1].components(separatedBy: "\n```")[0]
            #expect(words(block) == words(help.stdout), "\(command)")
        }
    }
}
