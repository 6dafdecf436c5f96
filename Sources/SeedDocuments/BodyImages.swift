import Foundation

/// Images an article's body shows (opt-in, `bodyImages: true`): Markdown inline images
/// `![alt](url "title")` and reference-style ones `![alt][ref]` / `![ref]` with their
/// `[ref]: url` definitions, HTML `<img src>` and every `srcset` candidate, and Hugo's `figure`
/// shortcode `src`. Fenced code blocks and inline code spans are skipped; only absolute http(s)
/// URLs are images to fetch (a relative path is the site's own file). The body is only read:
/// write-back never touches it.
public enum BodyImages {
    /// Every image URL of `body`, with its 1-based line in the document (`firstLine` is the
    /// body's first line), in the body's order.
    public static func find(in body: Substring, firstLine: Int) -> [(url: String, line: Int)] {
        var found: [(String, Int)] = []
        var definitions: [String: String] = [:]
        var references: [(String, Int)] = []
        var fence: Substring?
        for (number, rawLine) in body.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            let trimmed = line.drop { $0 == " " }
            if let open = fence {
                if trimmed.hasPrefix(open) { fence = nil }
                continue
            }
            if trimmed.hasPrefix("```") || trimmed.hasPrefix("~~~") {
                fence = trimmed.prefix(3)
                continue
            }
            let lineNumber = firstLine + number
            let text = withoutCodeSpans(line)
            if let (label, url) = definition(text) { definitions[label] = url; continue }
            for url in markdownImages(text, references: &references, line: lineNumber) + htmlImages(text) + figures(text) {
                found.append((url, lineNumber))
            }
        }
        for (label, line) in references {
            if let url = definitions[label.lowercased()] { found.append((url, line)) }
        }
        return found.filter { isAbsolute($0.0) }.sorted { $0.1 < $1.1 }
    }

    private static func isAbsolute(_ url: String) -> Bool {
        let lower = url.lowercased()
        return lower.hasPrefix("http://") || lower.hasPrefix("https://")
    }

    /// The line with every `code span` blanked out.
    private static func withoutCodeSpans(_ line: Substring) -> String {
        var out = "", inCode = false
        for character in line {
            if character == "`" { inCode.toggle(); out.append(" "); continue }
            out.append(inCode ? " " : character)
        }
        return out
    }

    /// `[label]: url "title"` (a reference definition), its label lowercased.
    private static func definition(_ line: String) -> (String, String)? {
        let trimmed = line.drop { $0 == " " }
        guard trimmed.first == "[", let close = trimmed.firstIndex(of: "]"), trimmed[trimmed.index(after: close)...].hasPrefix(":") else {
            return nil
        }
        let label = trimmed[trimmed.index(after: trimmed.startIndex)..<close].lowercased()
        let rest = trimmed[trimmed.index(close, offsetBy: 2)...].drop { $0 == " " }
        guard let url = destination(rest) else { return nil }
        return (label, url)
    }

    /// A link destination: `<url>` or the text up to the first blank.
    private static func destination(_ text: Substring) -> String? {
        if text.first == "<", let end = text.firstIndex(of: ">") { return String(text[text.index(after: text.startIndex)..<end]) }
        let url = text.prefix { $0 != " " && $0 != ")" && $0 != "\t" }
        return url.isEmpty ? nil : String(url)
    }

    /// `![alt](url "title")` destinations; `![alt][ref]` and `![ref]` labels go to `references`.
    private static func markdownImages(_ line: String, references: inout [(String, Int)], line number: Int) -> [String] {
        var urls: [String] = []
        var rest = line[...]
        while let bang = rest.range(of: "![") {
            guard let close = rest[bang.upperBound...].firstIndex(of: "]") else { break }
            let alt = rest[bang.upperBound..<close]
            let after = rest[rest.index(after: close)...]
            if after.first == "(", let url = destination(after.dropFirst().drop { $0 == " " }) {
                urls.append(url)
            } else if after.first == "[", let end = after.firstIndex(of: "]") {
                let label = after[after.index(after: after.startIndex)..<end]
                references.append(((label.isEmpty ? alt : label).lowercased(), number))
            } else {
                references.append((alt.lowercased(), number))
            }
            rest = rest[rest.index(after: close)...]
        }
        return urls
    }

    /// `<img … src="…" srcset="a 1x, b 2x">`: the src and every srcset candidate.
    private static func htmlImages(_ line: String) -> [String] {
        var urls: [String] = []
        var rest = line[...]
        while let open = rest.range(of: "<img", options: .caseInsensitive) {
            let tag = rest[open.upperBound...].prefix { $0 != ">" }
            if let src = attribute("src", in: tag) { urls.append(src) }
            if let srcset = attribute("srcset", in: tag) {
                urls += srcset.split(separator: ",").compactMap { $0.split(separator: " ").first.map(String.init) }
            }
            rest = rest[open.upperBound...]
        }
        return urls
    }

    /// Hugo's `{{< figure src="…" >}}` (or `{{% … %}}`).
    private static func figures(_ line: String) -> [String] {
        var urls: [String] = []
        var rest = line[...]
        while let open = rest.range(of: "{{") {
            let inner = rest[open.upperBound...].drop { $0 == "<" || $0 == "%" || $0 == " " }
            if inner.hasPrefix("figure "), let src = attribute("src", in: inner.prefix { $0 != "}" }) { urls.append(src) }
            rest = rest[open.upperBound...]
        }
        return urls
    }

    /// The value of `name="…"` (or '…') in a tag's text; the name must start an attribute.
    private static func attribute(_ name: String, in tag: Substring) -> String? {
        var rest = tag
        while let found = rest.range(of: name + "=", options: .caseInsensitive) {
            let before = found.lowerBound == tag.startIndex ? " " : tag[tag.index(before: found.lowerBound)]
            let value = rest[found.upperBound...]
            if before == " " || before == "\t", let quote = value.first, quote == "\"" || quote == "'" {
                let body = value.dropFirst()
                return String(body.prefix { $0 != quote })
            }
            rest = rest[found.upperBound...]
        }
        return nil
    }
}
