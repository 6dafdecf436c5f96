import Foundation
import SafeText

/// Writes `isCached` back into TOML or JSON front matter with YAML's promise: only an existing
/// `isCached = true|false` (`"isCached": true|false`) value is replaced, in place; every other
/// byte stays. An entry without the key, or whose value is not a plain boolean, is left alone
/// and reported with its line. The new text is parsed again, and unless its data is the old
/// data with exactly those values set, the whole file is left alone and reported.
enum DataIsCachedWriter {
    static func rewrite(_ text: String, _ frontMatter: DataFrontMatter, path: String, states: [String: Bool]) throws(SeedError) -> WriteBackResult {
        let format = frontMatter.format
        let before: DataValue
        do {
            before = try frontMatter.data()
        } catch {
            throw SeedError(.invalidYAML, path: path, line: error.line, "invalid \(format.rawValue) front matter: \(error.message)")
        }
        var result = WriteBackResult()
        var edits: [(range: Range<Int>, text: String)] = []
        var edited: [String: Bool] = [:]
        var owner: String?
        var urlLines: [String: Int] = [:]
        let lineOffset = frontMatter.firstLine - 1
        for pair in DataTokens.pairs(in: frontMatter.text, format: format) {
            if pair.key == "url" {
                if case .string(let written) = pair.value.kind {
                    // States are keyed by the URL as imgcache keeps it: without a user:password@.
                    let url = SafeText.removingUserinfo(fromURL: written)
                    owner = url
                    if urlLines[url] == nil { urlLines[url] = pair.value.line + lineOffset }
                } else {
                    owner = nil
                }
                continue
            }
            guard let url = owner, let wanted = states[url] else { continue }
            owner = nil
            guard case .bare(let current) = pair.value.kind, current == "true" || current == "false" else {
                result.leftAlone.append(SeedError(.leftAlone, path: path, line: pair.value.line + lineOffset,
                                                  "isCached for \(url) left alone: its value is not a plain true or false"))
                continue
            }
            edited[url] = wanted
            if (current == "true") != wanted { edits.append((pair.value.range, wanted ? "true" : "false")) }
        }
        result.leftAlone += missingKeys(before, states: states, edited: edited, lines: urlLines, path: path, format: format)
        guard !edits.isEmpty else { return result }
        let updatedText = applying(edits, to: frontMatter.text)
        let expected = settingIsCached(before, edited)
        var check = frontMatter
        check.text = updatedText
        if let after = try? check.data(), after == expected {
            result.accept(text, replacing: frontMatter.range, with: updatedText, changes: edits.count)
        } else {
            result.leaveFileAlone(path: path, line: frontMatter.firstLine,
                                  "the edited \(format.rawValue) would not read as the same data with only isCached changed")
        }
        return result
    }

    /// Entries named in `states` that have no isCached key: reported (a key is not added to TOML or JSON).
    private static func missingKeys(_ root: DataValue, states: [String: Bool], edited: [String: Bool], lines: [String: Int],
                                    path: String, format: DataFrontMatter.Format) -> [SeedError] {
        root.imageEntries.compactMap { entry -> SeedError? in
            guard case .string(let written)? = entry["url"] else { return nil }
            let url = SafeText.removingUserinfo(fromURL: written)
            guard states[url] != nil, edited[url] == nil, entry["isCached"] == nil else { return nil }
            return SeedError(.leftAlone, path: path, line: lines[url] ?? 1,
                             "isCached for \(url) left alone: the entry has no isCached key "
                             + "(in \(format.rawValue) front matter imgcache changes existing values only)")
        }
    }

    /// `root` with each entry whose url is in `values` given that isCached.
    private static func settingIsCached(_ root: DataValue, _ values: [String: Bool]) -> DataValue {
        root.mappingImageEntries { entry in
            guard case .table(var fields) = entry, case .string(let url)? = fields["url"],
                  let value = values[SafeText.removingUserinfo(fromURL: url)] else { return entry }
            fields["isCached"] = .bool(value)
            return .table(fields)
        }
    }

    /// `text` with each UTF-8 range replaced.
    private static func applying(_ edits: [(range: Range<Int>, text: String)], to text: String) -> String {
        var bytes = Array(text.utf8)
        for edit in edits.sorted(by: { $0.range.lowerBound > $1.range.lowerBound }) {
            bytes.replaceSubrange(edit.range, with: Array(edit.text.utf8))
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
