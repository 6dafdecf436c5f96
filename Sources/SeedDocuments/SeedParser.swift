import Foundation
import Yams

/// Parses one seed document's front matter into image references. Pure: text in, values out.
public enum SeedParser {
    /// Implicit types the seed fields use (booleans, integers, null). Yams resolves every plain
    /// scalar through one regular expression per rule, also to hash mapping keys; the default
    /// set adds float, timestamp, merge and value, which made reading 50,000 entries twice as slow.
    static let resolver = Resolver.basic.appending(.bool).appending(.int).appending(.null)

    /// Image entries one document may hold, with aliases counted each time they are used: a
    /// few kilobytes of `related: [*a, *a, …]` would otherwise expand to millions of entries.
    /// Real seeds hold tens; a document over the limit is refused whole, naming the file.
    public static let maxImageEntries = 10_000

    static func tooManyEntries(path: String) -> SeedError {
        SeedError(.tooLarge, path: path,
                  "more than \(maxImageEntries) image entries (aliases counted where used): refused, nothing read from it")
    }

    /// Parses `text` (the whole file) read from `path`.
    public static func parse(_ text: String, path: String) throws(SeedError) -> SeedDocument {
        let frontMatter: FrontMatter
        switch FrontMatter.locate(in: text) {
        case .success(let found): frontMatter = found
        case .failure(.missing):
            throw SeedError(.noFrontMatter, path: path, line: 1, "the file does not start with a '---' front matter line")
        case .failure(.unclosed):
            throw SeedError(.noFrontMatter, path: path, line: 1, "the front matter opened on line 1 is never closed with '---'")
        }
        let composed = try ComposedFrontMatter(frontMatter, path: path)
        var document = SeedDocument(path: path, images: [])
        guard let mapping = composed.root?.mapping else { return document }
        let offset = frontMatter.firstLine - 1
        var budget = maxImageEntries
        if let images = mapping.field("images") {
            try collect(images, related: false, offset: offset, budget: &budget, into: &document)
        }
        if let related = mapping.field("related")?.sequence {
            for article in related {
                if let images = article.mapping?.field("images") {
                    try collect(images, related: true, offset: offset, budget: &budget, into: &document)
                }
            }
        }
        return document
    }

    private static func collect(_ node: Node, related: Bool, offset: Int, budget: inout Int,
                                into document: inout SeedDocument) throws(SeedError) {
        budget -= node.sequence?.count ?? 0
        guard budget >= 0 else { throw tooManyEntries(path: document.path) }
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
                document.problems.append(SeedError(.invalidURL, path: document.path, line: urlLine, "\(url): \(problem)"))
                continue
            }
            document.images.append(ImageReference(
                url: url, width: positiveInt(fields.field("width")), height: positiveInt(fields.field("height")),
                isCached: fields.field("isCached")?.bool, line: urlLine, isRelated: related))
        }
    }

    private static func positiveInt(_ node: Node?) -> Int? {
        guard let value = node?.int, value > 0 else { return nil }
        return value
    }

    /// Why `url` cannot be fetched, or nil: only absolute http and https URLs with a host.
    public static func urlProblem(_ url: String) -> String? {
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
