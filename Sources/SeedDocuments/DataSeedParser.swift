import Foundation
import SafeText

/// Reads TOML and JSON front matter into image references, with the fields and the checks of
/// YAML's (`SeedParser`): `images[]` and `related[].images[]`, each entry's url, width, height
/// and isCached; an entry whose url is not http(s) is reported with its line and skipped.
enum DataSeedParser {
    static func parse(_ text: String, _ frontMatter: DataFrontMatter, path: String) throws(SeedError) -> SeedDocument {
        let root: DataValue
        do {
            root = try frontMatter.data()
        } catch {
            throw SeedError(.invalidYAML, path: path, line: error.line, "invalid \(frontMatter.format.rawValue) front matter: \(error.message)")
        }
        var document = SeedDocument(path: path, images: [])
        document.textHash = text.hashValue
        // Each url's lines in the text, in order: an entry takes the first not yet taken.
        var lines: [String: [Int]] = [:]
        for pair in DataTokens.pairs(in: frontMatter.text, format: frontMatter.format) where pair.key == "url" {
            if case .string(let url) = pair.value.kind { lines[url, default: []].append(pair.value.line + frontMatter.firstLine - 1) }
        }
        var budget = SeedParser.maxImageEntries
        for list in root.imageLists {
            try collect(list.value, related: list.related, lines: &lines, budget: &budget, into: &document)
        }
        return document
    }

    private static func collect(_ value: DataValue, related: Bool, lines: inout [String: [Int]], budget: inout Int,
                                into document: inout SeedDocument) throws(SeedError) {
        guard case .array(let entries) = value else {
            document.problems.append(SeedError(.invalidImage, path: document.path, "'images' is not a list"))
            return
        }
        budget -= entries.count
        guard budget >= 0 else { throw SeedParser.tooManyEntries(path: document.path) }
        for entry in entries {
            guard case .table = entry else {
                document.problems.append(SeedError(.invalidImage, path: document.path, "an image entry is not a table"))
                continue
            }
            guard case .string(let url)? = entry["url"], !url.isEmpty else {
                document.problems.append(SeedError(.invalidImage, path: document.path, "an image entry has no url"))
                continue
            }
            let line = lines[url]?.isEmpty == false ? lines[url]?.removeFirst() ?? 1 : 1
            if let problem = SeedParser.urlProblem(url) {
                document.problems.append(SeedError(.invalidURL, path: document.path, line: line,
                                                   "\(SafeText.removingUserinfo(fromURL: url)): \(problem)"))
                continue
            }
            var image = ImageReference(url: url, width: positive(entry["width"]), height: positive(entry["height"]),
                                       isCached: entry["isCached"].flatMap(bool), line: line, isRelated: related)
            if let focus = entry["focus"] {
                image.focus = focalPoint(focus)
                if image.focus == nil {
                    document.problems.append(SeedError(.invalidImage, path: document.path, line: line,
                                                       "\(SafeText.removingUserinfo(fromURL: url)): \(FocalPoint.problem)"))
                }
            }
            document.images.append(image)
        }
    }

    /// `[x, y]`, two numbers from 0 to 1.
    private static func focalPoint(_ value: DataValue) -> FocalPoint? {
        func number(_ value: DataValue) -> Double? {
            switch value {
            case .int(let n): Double(n)
            case .double(let d): d
            default: nil
            }
        }
        guard case .array(let items) = value, items.count == 2, let x = number(items[0]), let y = number(items[1]) else { return nil }
        return FocalPoint(x: x, y: y)
    }

    private static func positive(_ value: DataValue?) -> Int? {
        guard case .int(let number)? = value, number > 0 else { return nil }
        return number
    }

    private static func bool(_ value: DataValue) -> Bool? {
        if case .bool(let flag) = value { return flag }
        return nil
    }
}
