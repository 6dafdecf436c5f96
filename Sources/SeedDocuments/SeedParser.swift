import Foundation
import SafeText
import Yams

/// Parses one seed document's front matter into image references. Pure: text in, values out.
public enum SeedParser {
    /// No implicit-type rules at all. Yams resolves a plain scalar's tag through one regular
    /// expression per rule, and does so to hash every mapping key (its duplicate check) and to
    /// compare scalars: that was most of the time spent reading and writing back seeds. The
    /// values imgcache reads do not need it: `Node.bool` and `Node.int` read the scalar's text
    /// and refuse only an explicit `!!str`, whatever the resolver says.
    static let resolver = Resolver.basic

    /// Image entries one document may hold, with aliases counted each time they are used: a
    /// few kilobytes of `related: [*a, *a, …]` would otherwise expand to millions of entries.
    /// Real seeds hold tens; a document over the limit is refused whole, naming the file.
    public static let maxImageEntries = 10_000

    static func tooManyEntries(path: String) -> SeedError {
        SeedError(.tooLarge, path: path,
                  "more than \(maxImageEntries) image entries (aliases counted where used): refused, nothing read from it")
    }

    /// Parses `text` (the whole file) read from `path`; with `bodyImages`, the images its body
    /// shows are references too (`BodyImages`).
    public static func parse(_ text: String, path: String, bodyImages: Bool = false) throws(SeedError) -> SeedDocument {
        let (parsed, frontMatterEnd) = try parseFrontMatter(text, path: path)
        var document = parsed
        if bodyImages { appendBodyImages(of: text, after: frontMatterEnd, to: &document) }
        return document
    }

    /// The images of the body (which starts on the line after the front matter's closing line).
    private static func appendBodyImages(of text: String, after end: String.Index, to document: inout SeedDocument) {
        let utf8 = text.utf8
        guard let newline = utf8[end...].firstIndex(of: 0x0A) else { return }
        let start = utf8.index(after: newline)
        let firstLine = utf8[..<start].reduce(1) { $1 == 0x0A ? $0 + 1 : $0 }
        for (url, line) in BodyImages.find(in: text[start...], firstLine: firstLine) {
            if let problem = urlProblem(url) {
                document.problems.append(SeedError(.invalidURL, path: document.path, line: line,
                                                   "\(SafeText.removingUserinfo(fromURL: url)): \(problem)"))
                continue
            }
            var image = ImageReference(url: url, line: line, isRelated: false)
            image.inBody = true
            document.images.append(image)
        }
    }

    /// The front matter's references and where the front matter ends in `text`.
    private static func parseFrontMatter(_ text: String, path: String) throws(SeedError) -> (SeedDocument, String.Index) {
        switch DataFrontMatter.locate(in: text) {
        case .success(let data)?: return (try DataSeedParser.parse(text, data, path: path), data.range.upperBound)
        case .failure?: throw SeedError(.noFrontMatter, path: path, line: 1, "the front matter opened on line 1 ('+++' or '{') is never closed")
        case nil: break
        }
        let frontMatter: FrontMatter
        switch FrontMatter.locate(in: text) {
        case .success(let found): frontMatter = found
        case .failure(.missing):
            throw SeedError(.noFrontMatter, path: path, line: 1,
                            "the file does not start with front matter ('---' YAML, '+++' TOML or a '{' JSON object)")
        case .failure(.unclosed):
            throw SeedError(.noFrontMatter, path: path, line: 1, "the front matter opened on line 1 is never closed with '---'")
        }
        let composed = try ComposedFrontMatter(frontMatter, path: path)
        var document = SeedDocument(path: path, images: [])
        document.textHash = text.hashValue
        guard let mapping = composed.root?.mapping else { return (document, frontMatter.range.upperBound) }
        var walk = Walk(offset: frontMatter.firstLine - 1, yaml: YAMLText(frontMatter.yaml))
        if let images = mapping.field("images") {
            try collect(images, related: false, shared: Self.isShared(images), walk: &walk, into: &document)
        }
        if let relatedNode = mapping.field("related"), let related = relatedNode.sequence {
            for article in related {
                if let images = article.mapping?.field("images") {
                    let shared = isShared(relatedNode) || isShared(article) || isShared(images)
                    try collect(images, related: true, shared: shared, walk: &walk, into: &document)
                }
            }
        }
        return (document, frontMatter.range.upperBound)
    }

    /// What the walk over one document carries.
    private struct Walk {
        var offset: Int
        var yaml: YAMLText
        var budget = maxImageEntries
    }

    /// Whether an alias may share `node` (it has an anchor): then nothing under it is edited blind.
    private static func isShared(_ node: Node) -> Bool {
        switch node {
        case .mapping(let mapping): return mapping.anchor != nil
        case .sequence(let sequence): return sequence.anchor != nil
        case .scalar(let scalar): return scalar.anchor != nil
        case .alias: return true
        }
    }

    private static func collect(_ node: Node, related: Bool, shared: Bool, walk: inout Walk,
                                into document: inout SeedDocument) throws(SeedError) {
        let offset = walk.offset
        walk.budget -= node.sequence?.count ?? 0
        guard walk.budget >= 0 else { throw tooManyEntries(path: document.path) }
        guard let entries = node.sequence else {
            document.problems.append(SeedError(.invalidImage, path: document.path, line: node.mark.map { $0.line + offset },
                                               "'images' is not a list"))
            return
        }
        for entry in entries {
            let line = (entry.mark?.line ?? 1) + offset
            guard let fields = entry.mapping else {
                document.problems.append(SeedError(.invalidImage, path: document.path, line: line, "an image entry is not a mapping"))
                continue
            }
            guard let urlNode = fields.field("url"), let url = urlNode.string, !url.isEmpty else {
                document.problems.append(SeedError(.invalidImage, path: document.path, line: line, "an image entry has no url"))
                continue
            }
            let urlLine = (urlNode.mark?.line ?? line - offset) + offset
            if let problem = urlProblem(url) {
                document.problems.append(SeedError(.invalidURL, path: document.path, line: urlLine,
                                                   "\(SafeText.removingUserinfo(fromURL: url)): \(problem)"))
                continue
            }
            var image = ImageReference(
                url: url, width: positiveInt(fields.field("width")), height: positiveInt(fields.field("height")),
                isCached: fields.field("isCached")?.bool, line: urlLine, isRelated: related)
            if !shared && !isShared(entry) { image.isCachedSite = EditPlanner.site(fields, in: walk.yaml) }
            if let focus = fields.field("focus") {
                image.focus = focalPoint(focus)
                if image.focus == nil {
                    document.problems.append(SeedError(.invalidImage, path: document.path, line: urlLine, "\(url): \(FocalPoint.problem)"))
                }
            }
            document.images.append(image)
        }
    }

    /// `[x, y]`, two numbers from 0 to 1.
    private static func focalPoint(_ node: Node) -> FocalPoint? {
        guard let items = node.sequence, items.count == 2,
              let x = items[0].scalar.flatMap({ Double($0.string) }), let y = items[1].scalar.flatMap({ Double($0.string) }) else { return nil }
        return FocalPoint(x: x, y: y)
    }

    private static func positiveInt(_ node: Node?) -> Int? {
        // Plain decimal digits first: Yams's own integer parse (bases, sexagesimal) is slow.
        guard let scalar = node?.scalar else { return nil }
        let value = scalar.style == .plain ? Int(scalar.string) ?? node?.int : node?.int
        guard let value, value > 0 else { return nil }
        return value
    }

    /// Why `url` cannot be fetched, or nil: only absolute http and https URLs with a host.
    public static func urlProblem(_ url: String) -> String? {
        if let problem = SafeText.controlCharacterProblem(inURL: url) { return problem }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            return "not a valid URL"
        }
        guard scheme == "http" || scheme == "https" else { return "the scheme '\(scheme)' is not http or https" }
        guard let host = components.host, !host.isEmpty else { return "the URL has no host" }
        return nil
    }

    /// The 1-based line (within the YAML) and the problem of a Yams error.
    static func describe(_ error: Error) -> (Int?, String) {
        guard let yaml = error as? YamlError else { return (nil, "\(error)") }
        switch yaml {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let text = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
            return (mark.line, text)
        case .reader(let problem, _, _, _):
            return (nil, problem)
        default:
            return (nil, "\(yaml)")
        }
    }
}
