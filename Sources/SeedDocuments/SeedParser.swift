import Foundation
import Yams

/// Parses one seed document's front matter into image references. Pure: text in, values out.
public enum SeedParser {
    /// Implicit types the seed fields use (booleans, integers, null). Yams resolves every plain
    /// scalar through one regular expression per rule, also to hash mapping keys; the default
    /// set adds float, timestamp, merge and value, which made reading 50,000 entries twice as slow.
    static let resolver = Resolver.basic.appending(.bool).appending(.int).appending(.null)

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
        let root: Node?
        do {
            root = try Yams.compose(yaml: frontMatter.yaml, resolver)
        } catch {
            let (line, problem) = describe(error)
            throw SeedError(.invalidYAML, path: path, line: line.map { $0 + frontMatter.firstLine - 1 }, problem)
        }
        var document = SeedDocument(path: path, images: [])
        guard let mapping = root?.mapping else { return document }
        let offset = frontMatter.firstLine - 1
        if let images = field(mapping, "images") {
            collect(images, related: false, offset: offset, into: &document)
        }
        if let related = field(mapping, "related")?.sequence {
            for article in related {
                if let images = article.mapping.flatMap({ field($0, "images") }) {
                    collect(images, related: true, offset: offset, into: &document)
                }
            }
        }
        return document
    }

    private static func collect(_ node: Node, related: Bool, offset: Int, into document: inout SeedDocument) {
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
            guard let urlNode = field(fields, "url"), let url = urlNode.string, !url.isEmpty else {
                document.problems.append(SeedError(.invalidImage, path: document.path, line: line, "an image entry has no url"))
                continue
            }
            let urlLine = (urlNode.mark?.line ?? line - offset) + offset
            if let problem = urlProblem(url) {
                document.problems.append(SeedError(.invalidURL, path: document.path, line: urlLine, "\(url): \(problem)"))
                continue
            }
            document.images.append(ImageReference(
                url: url, width: positiveInt(field(fields, "width")), height: positiveInt(field(fields, "height")),
                isCached: field(fields, "isCached")?.bool, line: urlLine, isRelated: related))
        }
    }

    /// The value of the plain key `name`. `mapping[name]` compares whole nodes, which resolves
    /// every key's tag through Yams's regular expressions: with 50,000 entries that was most
    /// of the time spent reading seeds.
    private static func field(_ mapping: Node.Mapping, _ name: String) -> Node? {
        for (key, value) in mapping where key.scalar?.string == name { return value }
        return nil
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
    private static func describe(_ error: Error) -> (Int?, String) {
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
