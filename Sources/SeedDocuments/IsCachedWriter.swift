import AtomicFiles
import Foundation
import Yams

/// Writes `isCached` values back into seed documents, changing only those values: every other
/// byte (the `secured:` blob, comments, key order, quoting, line endings) stays as it was.
public enum IsCachedWriter {
    /// The text with each image entry's `isCached` set to `states[url]`, or nil when nothing
    /// changes. Entries whose url is not in `states` are left alone; an entry without an
    /// `isCached` key gets one, indented like its siblings.
    public static func rewrite(_ text: String, path: String, states: [String: Bool]) throws(SeedError) -> String? {
        guard case .success(let frontMatter) = FrontMatter.locate(in: text) else {
            throw SeedError(.noFrontMatter, path: path, line: 1, "no front matter to write isCached into")
        }
        let root: Node?
        do { root = try Yams.compose(yaml: frontMatter.yaml) } catch {
            throw SeedError(.invalidYAML, path: path, "cannot parse the front matter: \(error)")
        }
        guard let mapping = root?.mapping else { return nil }
        var entries: [Node.Mapping] = []
        func gather(_ images: Node?) {
            for entry in images?.sequence ?? [] { if let fields = entry.mapping { entries.append(fields) } }
        }
        gather(mapping["images"])
        for article in mapping["related"]?.sequence ?? [] { gather(article.mapping?["images"]) }

        var lines = Lines(text)
        let offset = frontMatter.firstLine - 1
        var edits: [Edit] = []
        for fields in entries {
            guard let url = fields["url"]?.string, let wanted = states[url] else { continue }
            let literal = wanted ? "true" : "false"
            if let value = fields["isCached"] {
                guard value.bool != wanted || value.scalar?.style != .plain else { continue }
                guard let mark = value.mark else { continue }
                edits.append(.replace(line: mark.line + offset, column: mark.column, style: value.scalar?.style ?? .plain,
                                      text: literal))
            } else {
                guard fields.style != .flow, let first = fields.first?.key.mark, let last = Array(fields).last?.key.mark else {
                    throw SeedError(.invalidImage, path: path, line: fields.mark.map { $0.line + offset },
                                    "cannot add isCached to a flow-style entry for \(url)")
                }
                edits.append(.insert(afterLine: last.line + offset, indent: first.column - 1, text: "isCached: \(literal)"))
            }
        }
        guard !edits.isEmpty else { return nil }
        // Bottom to top, right to left, so earlier positions stay valid.
        for edit in edits.sorted(by: { $0.position > $1.position }) { lines.apply(edit) }
        let result = lines.text
        return result == text ? nil : result
    }

    /// Rewrites the file at `path` atomically (temporary file, fsync, rename), and only when a
    /// value changes. Returns whether it wrote.
    @discardableResult
    public static func writeBack(path: String, states: [String: Bool]) throws(SeedError) -> Bool {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SeedError(.unreadable, path: path, "cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw SeedError(.notUTF8, path: path, "not UTF-8 text") }
        guard let updated = try rewrite(text, path: path, states: states) else { return false }
        var info = stat()
        let mode = stat(path, &info) == 0 ? info.st_mode & 0o7777 : 0o644
        do {
            try AtomicFile.write(Data(updated.utf8), to: path, mode: mode)
        } catch {
            throw SeedError(.writeFailed, path: path, error.message)
        }
        return true
    }
}

/// A change to one line of the document.
enum Edit {
    /// Replace the scalar token starting at `column` (1-based, in Unicode scalars).
    case replace(line: Int, column: Int, style: Node.Scalar.Style, text: String)
    /// Insert a new line after `afterLine` and its continuation lines.
    case insert(afterLine: Int, indent: Int, text: String)

    var position: Position {
        switch self {
        case .replace(let line, let column, _, _): return Position(line: line, column: column)
        case .insert(let line, _, _): return Position(line: line, column: Int.max)
        }
    }

    struct Position: Comparable {
        var line: Int
        var column: Int
        static func < (a: Position, b: Position) -> Bool { (a.line, a.column) < (b.line, b.column) }
    }
}

/// The document as lines that keep their own line endings.
struct Lines {
    private var lines: [String]
    private let newline: String

    init(_ text: String) {
        var lines: [String] = []
        var current = ""
        for character in text {
            current.append(character)
            if character == "\n" || character == "\r\n" {
                lines.append(current)
                current = ""
            }
        }
        if !current.isEmpty { lines.append(current) }
        self.lines = lines
        newline = text.contains("\r\n") ? "\r\n" : "\n"
    }

    var text: String { lines.joined() }

    mutating func apply(_ edit: Edit) {
        switch edit {
        case .replace(let line, let column, let style, let replacement):
            guard line >= 1, line <= lines.count else { return }
            var scalars = Array(lines[line - 1].unicodeScalars)
            let start = column - 1
            guard start >= 0, start < scalars.count else { return }
            let end = Self.tokenEnd(scalars, from: start, style: style)
            scalars.replaceSubrange(start..<end, with: replacement.unicodeScalars)
            var rebuilt = String.UnicodeScalarView()
            rebuilt.append(contentsOf: scalars)
            lines[line - 1] = String(rebuilt)
        case .insert(let line, let indent, let text):
            guard line >= 1, line <= lines.count else { return }
            // Skip the value's continuation lines (indented deeper than the key), and blank lines
            // only when more continuation follows them.
            var index = line  // 0-based index of the line after `line`
            var lastContent = line
            while index < lines.count {
                let content = lines[index].trimmingCharacters(in: .whitespacesAndNewlines)
                let depth = lines[index].prefix { $0 == " " }.count
                if content.isEmpty { index += 1; continue }
                if depth > indent && !content.hasPrefix("#") { index += 1; lastContent = index; continue }
                break
            }
            // The last line of a file may lack its newline ("\r\n" is one Character: test scalars).
            if lines[lastContent - 1].unicodeScalars.last != "\n" { lines[lastContent - 1] += newline }
            lines.insert(String(repeating: " ", count: indent) + text + newline, at: lastContent)
        }
    }

    /// Where the scalar token that starts at `start` ends.
    static func tokenEnd(_ scalars: [Unicode.Scalar], from start: Int, style: Node.Scalar.Style) -> Int {
        switch style {
        case .singleQuoted, .doubleQuoted:
            let quote = scalars[start]
            var i = start + 1
            while i < scalars.count {
                if scalars[i] == "\\" && style == .doubleQuoted { i += 2; continue }
                if scalars[i] == quote {
                    if style == .singleQuoted && i + 1 < scalars.count && scalars[i + 1] == "'" { i += 2; continue }
                    return i + 1
                }
                i += 1
            }
            return scalars.count
        default:
            // Plain: up to a comment, a flow delimiter or the end of the line, less trailing blanks.
            var i = start
            while i < scalars.count {
                let c = scalars[i]
                if c == "\n" || c == "\r" || c == "," || c == "}" || c == "]" { break }
                if c == "#" && i > start && (scalars[i - 1] == " " || scalars[i - 1] == "\t") { break }
                i += 1
            }
            while i > start && (scalars[i - 1] == " " || scalars[i - 1] == "\t") { i -= 1 }
            return i
        }
    }
}
