import Yams

/// YAML text as UTF-8 bytes, with the line starts libyaml counts, so that a `Mark` (1-based
/// line and column, columns in Unicode scalars) maps to one byte offset. libyaml breaks lines
/// at CR LF, CR, LF, NEL (U+0085), LS (U+2028) and PS (U+2029), so a document with any of them
/// still maps exactly. Offsets and ranges below are byte offsets.
struct YAMLText {
    private(set) var bytes: [UInt8]
    /// Offset of the first byte of each line.
    private var lineStarts: [Int] = [0]

    init(_ text: String) {
        bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x0D && i + 1 < bytes.count && bytes[i + 1] == 0x0A {
                i += 2
                lineStarts.append(i)
            } else if let width = breakWidth(at: i) {
                i += width
                lineStarts.append(i)
            } else {
                i += 1
            }
        }
    }

    var count: Int { bytes.count }
    var lineCount: Int { lineStarts.count }

    /// The byte at `offset`, as an ASCII scalar when it is one.
    subscript(offset: Int) -> UInt8 { bytes[offset] }

    /// The width of the line break at `offset` (CR, LF, NEL, LS or PS; CR LF counts as CR here), or nil.
    func breakWidth(at offset: Int) -> Int? {
        switch bytes[offset] {
        case 0x0A, 0x0D: return 1
        case 0xC2 where offset + 1 < bytes.count && bytes[offset + 1] == 0x85: return 2
        case 0xE2 where offset + 2 < bytes.count && bytes[offset + 1] == 0x80 && (bytes[offset + 2] == 0xA8 || bytes[offset + 2] == 0xA9):
            return 3
        default: return nil
        }
    }

    /// The offset of `mark`, or nil when it is outside the text.
    func offset(of mark: Mark) -> Int? {
        guard mark.line >= 1, mark.line <= lineStarts.count, mark.column >= 1 else { return nil }
        var offset = lineStarts[mark.line - 1]
        for _ in 1..<mark.column {
            guard offset < bytes.count else { return nil }
            offset += Self.scalarWidth(bytes[offset])
        }
        return offset <= bytes.count ? offset : nil
    }

    /// The byte length of the UTF-8 sequence that starts with `lead`.
    static func scalarWidth(_ lead: UInt8) -> Int {
        lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
    }

    /// The offset just past the last byte of line `line` (1-based) before its break.
    func lineContentEnd(_ line: Int) -> Int {
        let start = lineStarts[line - 1]
        var i = start
        let end = line < lineStarts.count ? lineStarts[line] : bytes.count
        while i < end, breakWidth(at: i) == nil { i += 1 }
        return i
    }

    /// The offset where line `line` (1-based) starts, or the end of the text past the last line.
    func lineStart(_ line: Int) -> Int { line <= lineStarts.count ? lineStarts[line - 1] : bytes.count }

    /// The bytes of line `line` (1-based) without its break.
    func content(ofLine line: Int) -> ArraySlice<UInt8> { bytes[lineStart(line)..<lineContentEnd(line)] }

    /// The break that ends line `line`, or the document's usual one when it has none.
    func lineBreak(after line: Int) -> String {
        let end = line < lineStarts.count ? lineStarts[line] : bytes.count
        let contentEnd = lineContentEnd(line)
        if contentEnd < end { return String(decoding: bytes[contentEnd..<end], as: UTF8.self) }
        return bytes.contains(0x0D) && bytes.contains(0x0A) ? "\r\n" : "\n"
    }

    /// Where a single-line scalar token starting at `start` ends, or nil when it does not end on
    /// its line (a quoted value that goes on to the next line).
    func tokenEnd(from start: Int, style: Node.Scalar.Style) -> Int? {
        switch style {
        case .singleQuoted, .doubleQuoted:
            let quote = bytes[start]
            var i = start + 1
            while i < bytes.count && breakWidth(at: i) == nil {
                if bytes[i] == UInt8(ascii: "\\") && style == .doubleQuoted { i += 2; continue }
                if bytes[i] == quote {
                    if style == .singleQuoted && i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "'") { i += 2; continue }
                    return i + 1
                }
                i += 1
            }
            return nil
        default:
            // Plain: up to a comment, a flow delimiter or the end of the line, less trailing blanks.
            var i = start
            while i < bytes.count {
                let c = bytes[i]
                if breakWidth(at: i) != nil || c == UInt8(ascii: ",") || c == UInt8(ascii: "}") || c == UInt8(ascii: "]") { break }
                if c == UInt8(ascii: "#") && i > start && (bytes[i - 1] == 0x20 || bytes[i - 1] == 0x09) { break }
                i += 1
            }
            while i > start && (bytes[i - 1] == 0x20 || bytes[i - 1] == 0x09) { i -= 1 }
            return i
        }
    }

    /// Whether the bytes of `range` are exactly `text`.
    func holds(_ text: String, at range: Range<Int>) -> Bool {
        bytes[range].elementsEqual(text.utf8)
    }

    /// Applies replacements (non-overlapping ranges; an empty range inserts), all at once.
    func applying(_ edits: [(range: Range<Int>, text: String)]) -> String {
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count + edits.count * 16)
        var position = 0
        for edit in edits.sorted(by: { ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound) }) {
            guard edit.range.lowerBound >= position else { continue }
            result.append(contentsOf: bytes[position..<edit.range.lowerBound])
            result.append(contentsOf: edit.text.utf8)
            position = edit.range.upperBound
        }
        result.append(contentsOf: bytes[position...])
        return String(decoding: result, as: UTF8.self)
    }
}
