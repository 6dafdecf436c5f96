import AtomicFiles
import Foundation
import Yams

/// What writing `isCached` back into one document did or would do.
public struct WriteBackResult: Sendable {
    /// The new text, or nil when nothing changes.
    public var text: String?
    /// `isCached` values set (replaced or added).
    public var valuesChanged = 0
    /// Entries whose value could not be changed safely in place, with their line and the reason.
    /// Their text is left exactly as it was.
    public var leftAlone: [SeedError] = []
    /// Whether the file was written (by `writeBack`).
    public var written = false
}

extension WriteBackResult {
    /// The whole file is left alone, and why.
    mutating func leaveFileAlone(path: String, line: Int, _ why: String) {
        leftAlone.append(SeedError(.leftAlone, path: path, line: line, "the whole file was left alone: \(why)"))
    }

    /// The new text: `text` with its front matter (`range`) replaced, `changes` values set.
    mutating func accept(_ text: String, replacing range: Range<String.Index>, with frontMatter: String, changes: Int) {
        var updated = text
        updated.replaceSubrange(range, with: frontMatter)
        self.text = updated
        valuesChanged = changes
    }
}

/// Writes `isCached` values back into seed documents and changes nothing else: every other
/// byte (the `secured:` blob, comments, key order, quoting, line endings, a byte order mark)
/// stays as it was. Only values that can be changed in place are changed (a plain or quoted
/// true/false on one line, or a new line in a block-style entry); anything else (an anchored or
/// aliased value, a tag, a block scalar, a flow entry without the key) is left alone and
/// reported. The result is parsed again and compared with the original tree: unless the only
/// differences are the values written, the document is left alone whole.
public enum IsCachedWriter {
    /// Nodes the comparison of the old and new trees may visit (aliases count each time they
    /// are expanded); a larger document is left alone.
    public static let maxComparedNodes = 2_000_000

    /// The text with each image entry's `isCached` set to `states[url]`. Entries whose url is
    /// not in `states` are left alone. Linear in the document: `states` may hold every URL.
    public static func rewrite(_ text: String, path: String, states: [String: Bool]) throws(SeedError) -> WriteBackResult {
        if case .success(let data)? = DataFrontMatter.locate(in: text) {
            return try DataIsCachedWriter.rewrite(text, data, path: path, states: states)
        }
        guard case .success(let frontMatter) = FrontMatter.locate(in: text) else {
            throw SeedError(.noFrontMatter, path: path, line: 1, "no front matter to write isCached into")
        }
        let document = try ComposedFrontMatter(frontMatter, path: path)
        let yaml = YAMLText(frontMatter.yaml)
        let lineOffset = frontMatter.firstLine - 1
        var result = WriteBackResult()
        var edits: [Int: (range: Range<Int>, text: String)] = [:]
        var wanted: [EntryPosition: Bool] = [:]
        // Replacing a plain true/false whose exact text was matched against the parsed value by
        // another plain literal cannot change anything else; any other edit is checked by parsing.
        var needsVerification = false
        for entry in try document.entries() {
            guard let url = entry.fields.field("url")?.string, let value = states[url] else { continue }
            switch EditPlanner.plan(entry.fields, wanted: value, in: yaml) {
            case .unchanged:
                wanted[entry.position] = value
            case .edit(let range, let replacement, let kind):
                wanted[entry.position] = value
                edits[range.lowerBound] = (range, replacement)
                if kind != .plainToken { needsVerification = true }
            case .leaveAlone(let reason, let line):
                result.leftAlone.append(SeedError(.leftAlone, path: path, line: line.map { $0 + lineOffset },
                                                  "isCached for \(url) left alone: \(reason)"))
            }
        }
        guard !edits.isEmpty else { return result }
        let updatedYAML = yaml.applying(Array(edits.values))
        let verdict = needsVerification ? document.verify(updatedYAML, wanted: wanted) : nil
        if let verdict {
            result.leaveFileAlone(path: path, line: frontMatter.firstLine, verdict)
        } else {
            result.accept(text, replacing: frontMatter.range, with: updatedYAML, changes: edits.count)
        }
        return result
    }

    /// Rewrites the file at `path` atomically (temporary file, fsync, rename), and only when a
    /// value changes. A symbolic link is followed: its target is rewritten and the link stays.
    @discardableResult
    public static func writeBack(path: String, states: [String: Bool]) throws(SeedError) -> WriteBackResult {
        let target = resolvedPath(path)
        return try rewriteFile(try readText(target, path: path), target: target, path: path, states: states)
    }

    /// Writes `states` back into every document that names one of its URLs: one pass over the
    /// documents (on every core), each file rewritten at most once. Returns how many files were
    /// rewritten and every problem (entries left alone, files that could not be written).
    public static func writeBack(_ documents: [SeedDocument], states: [String: Bool]) -> (rewritten: Int, problems: [SeedError]) {
        let affected = documents.filter { $0.images.contains(where: { !$0.inBody && states[$0.url] != nil }) }
        var rewritten = 0
        var problems: [SeedError] = []
        for result in affected.concurrentMap({ document in Result { () throws(SeedError) in try writeBack(document, states: states) } }) {
            switch result {
            case .success(let result):
                if result.written { rewritten += 1 }
                problems += result.leftAlone
            case .failure(let error): problems.append(error)
            }
        }
        return (rewritten, problems)
    }

    /// Writes `states` back into the file `document` was scanned from. While the file holds
    /// exactly the text the scan read and every value to change is a plain token the scan
    /// located, the values are replaced at those positions with no second parse; otherwise the
    /// text is parsed again and checked (`rewrite`).
    public static func writeBack(_ document: SeedDocument, states: [String: Bool]) throws(SeedError) -> WriteBackResult {
        let target = resolvedPath(document.path)
        let text = try readText(target, path: document.path)
        guard text.hashValue == document.textHash, case .success(let frontMatter) = FrontMatter.locate(in: text),
              let edits = plainEdits(document, states: states) else {
            return try rewriteFile(text, target: target, path: document.path, states: states)
        }
        var result = WriteBackResult()
        guard !edits.isEmpty else { return result }
        var updated = text
        updated.replaceSubrange(frontMatter.range, with: YAMLText(frontMatter.yaml).applying(edits))
        try write(updated, to: target, path: document.path)
        result.text = updated
        result.valuesChanged = edits.count
        result.written = true
        return result
    }

    /// `rewrite`, then the file written when a value changed.
    private static func rewriteFile(_ text: String, target: String, path: String, states: [String: Bool]) throws(SeedError) -> WriteBackResult {
        var result = try rewrite(text, path: path, states: states)
        guard let updated = result.text else { return result }
        try write(updated, to: target, path: path)
        result.written = true
        return result
    }

    /// The file's text; not String(data:encoding:), which drops a byte order mark.
    private static func readText(_ target: String, path: String) throws(SeedError) -> String {
        guard let data = FileManager.default.contents(atPath: target) else {
            throw SeedError(.unreadable, path: path, "cannot read the file")
        }
        guard let text = String(validating: data, as: UTF8.self) else { throw SeedError(.notUTF8, path: path, "not UTF-8 text") }
        return text
    }

    /// The replacements for `states`, or nil when one of them is not at a plain-token site.
    private static func plainEdits(_ document: SeedDocument, states: [String: Bool]) -> [(range: Range<Int>, text: String)]? {
        var edits: [Int: (range: Range<Int>, text: String)] = [:]
        for image in document.images where !image.inBody {
            guard let wanted = states[image.url] else { continue }
            guard case .plainToken(let range, let current) = image.isCachedSite else { return nil }
            if current != wanted { edits[range.lowerBound] = (range, wanted ? "true" : "false") }
        }
        return Array(edits.values)
    }

    /// Replaces `target` with `text` atomically, keeping its permissions.
    private static func write(_ text: String, to target: String, path: String) throws(SeedError) {
        var info = stat()
        let mode = stat(target, &info) == 0 ? info.st_mode & 0o7777 : 0o644
        do {
            try AtomicFile.write(Data(text.utf8), to: target, mode: mode)
        } catch {
            throw SeedError(.writeFailed, path: path, error.message)
        }
    }

    /// The file a path names once every symbolic link is followed (the path itself when it cannot be resolved).
    static func resolvedPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// Where an image entry stands: `images[index]` of the article, or `related[article].images[index]`.
struct EntryPosition: Hashable {
    var article: Int?
    var index: Int
}
