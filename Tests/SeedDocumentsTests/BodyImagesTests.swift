import Foundation
@testable import SeedDocuments
import Testing

@Suite("Images in the body")
struct BodyImagesTests {
    static let post = """
        ---
        title: A post
        images:
          - url: https://example.com/front.jpg
            isCached: false
        ---
        Intro ![a harbour](https://example.com/inline.jpg "The harbour") and ![local](/img/local.png).
        A reference image: ![market][m] and a collapsed one ![Bridge].
        <p><img class="wide" src="https://example.com/html.jpg" srcset="https://example.com/html-1x.jpg 1x, https://example.com/html-2x.jpg 2x" alt=""></p>
        {{< figure src="https://example.com/figure.jpg" title="A figure" >}}
        Inline code `![not](https://example.com/code-span.jpg)` is not an image.

        ```markdown
        ![not either](https://example.com/fenced.jpg)
        <img src="https://example.com/fenced.png">
        ```

        [m]: https://example.com/market.jpg "Market"
        [bridge]: <https://example.com/bridge.jpg>
        ![bad](javascript:alert(1))
        """

    @Test("Markdown inline and reference images, <img src> and every srcset candidate, Hugo's figure; code skipped; relative paths are the site's")
    func finds() throws {
        let document = try SeedParser.parse(Self.post, path: "post.md", bodyImages: true)
        let body = document.images.filter(\.inBody)
        #expect(body.map(\.url) == ["https://example.com/inline.jpg", "https://example.com/market.jpg", "https://example.com/bridge.jpg",
                                    "https://example.com/html.jpg", "https://example.com/html-1x.jpg", "https://example.com/html-2x.jpg",
                                    "https://example.com/figure.jpg"])
        #expect(body.map(\.line) == [7, 8, 8, 9, 9, 9, 10])
        #expect(document.images.filter { !$0.inBody }.map(\.url) == ["https://example.com/front.jpg"])
        // Off by default: the body is not read.
        #expect(try SeedParser.parse(Self.post, path: "post.md").images.map(\.url) == ["https://example.com/front.jpg"])
    }

    @Test("the body is never written back, and a TOML or JSON body is read the same way")
    func neverWrittenBack() throws {
        let document = try SeedParser.parse(Self.post, path: "post.md", bodyImages: true)
        let states = Dictionary(document.images.map { ($0.url, true) }, uniquingKeysWith: { a, _ in a })
        let result = try IsCachedWriter.rewrite(Self.post, path: "post.md", states: states)
        #expect(result.text == Self.post.replacingOccurrences(of: "isCached: false", with: "isCached: true"))
        let toml = "+++\ntitle = \"t\"\n+++\nText ![x](https://example.com/t.jpg)\n"
        let tomlImages = try SeedParser.parse(toml, path: "t.md", bodyImages: true).images
        #expect(tomlImages.map(\.url) == ["https://example.com/t.jpg"] && tomlImages.first?.line == 4)
        let json = "{\n  \"title\": \"j\"\n}\n<img src='https://example.com/j.jpg'>\n"
        #expect(try SeedParser.parse(json, path: "j.md", bodyImages: true).images.map(\.url) == ["https://example.com/j.jpg"])
    }
}
