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
        guard case .success(let frontMatter) = FrontMatter.locate(in: text) else {
            throw SeedError(.noFrontMatter, path: path, line: 1, "no front matter to write isCached into")
        }
        let document = try ComposedFrontMatter(frontMatter, path: path)
        let yaml = YAMLText(frontMatter.yaml)
        let lineOffset = frontMatter.firstLine - 1
        var result = WriteBackResult()
        var edits: [Int: (range: Range<Int>, text: String)] = [:]
        var wanted: [EntryPosition: Bool] = [:]
        for entry in try document.entries() {
            guard let url = entry.fields.field("url")?.string, let value = states[url] else { continue }
            switch EditPlanner.plan(entry.fields, wanted: value, in: yaml) {
            case .unchanged:
                wanted[entry.position] = value
            case .edit(let range, let replacement):
                wanted[entry.position] = value
                edits[range.lowerBound] = (range, replacement)
            case .leaveAlone(let reason, let line):
                result.leftAlone.append(SeedError(.leftAlone, path: path, line: line.map { $0 + lineOffset },
                                                  "isCached for \(url) left alone: \(reason)"))
            }
        }
        guard !edits.isEmpty else { return result }
        let updatedYAML = yaml.applying(Array(edits.values))
        let verdict = document.verify(updatedYAML, wanted: wanted)
        guard verdict == nil else {
            result.leftAlone.append(SeedError(.leftAlone, path: path, line: frontMatter.firstLine,
                                              "the whole file was left alone: \(verdict!)"))
            return result
        }
        var updated = text
        updated.replaceSubrange(frontMatter.range, with: updatedYAML)
        result.text = updated
        result.valuesChanged = edits.count
        return result
    }

    /// Rewrites the file at `path` atomically (temporary file, fsync, rename), and only when a
    /// value changes. A symbolic link is followed: its target is rewritten and the link stays.
    @discardableResult
    public static func writeBack(path: String, states: [String: Bool]) throws(SeedError) -> WriteBackResult {
        let target = resolvedPath(path)
        guard let data = FileManager.default.contents(atPath: target) else {
            throw SeedError(.unreadable, path: path, "cannot read the file")
        }
        // Not String(data:encoding:), which drops a byte order mark.
        guard let text = String(validating: data, as: UTF8.self) else {
            throw SeedError(.notUTF8, path: path, "not UTF-8 text")
        }
        var result = try rewrite(text, path: path, states: states)
        guard let updated = result.text else { return result }
        var info = stat()
        let mode = stat(target, &info) == 0 ? info.st_mode & 0o7777 : 0o644
        do {
            try AtomicFile.write(Data(updated.utf8), to: target, mode: mode)
        } catch {
            throw SeedError(.writeFailed, path: path, error.message)
        }
        result.written = true
        return result
    }

    /// Writes `states` back into every document that names one of its URLs: one pass over the
    /// documents, each file rewritten at most once. Returns how many files were rewritten and
    /// every problem (entries left alone, files that could not be written), as the lines a user reads.
    public static func writeBack(_ documents: [SeedDocument], states: [String: Bool]) -> (rewritten: Int, problems: [SeedError]) {
        var rewritten = 0
        var problems: [SeedError] = []
        for document in documents where document.images.contains(where: { states[$0.url] != nil }) {
            do {
                let result = try writeBack(path: document.path, states: states)
                if result.written { rewritten += 1 }
                problems += result.leftAlone
            } catch {
                problems.append(error)
            }
        }
        return (rewritten, problems)
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
