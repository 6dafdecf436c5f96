import Yams

/// YAML text as Unicode scalars, with the line starts libyaml counts: a `Mark` (1-based line
/// and column, columns in scalars) maps to one offset. libyaml breaks lines at CR LF, CR, LF,
/// NEL (U+0085), LS (U+2028) and PS (U+2029), so a document with any of them still maps exactly.
struct YAMLText {
    private(set) var scalars: [Unicode.Scalar]
    /// Offset of the first scalar of each line.
    private var lineStarts: [Int] = [0]

    init(_ text: String) {
        scalars = Array(text.unicodeScalars)
        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            if c == "\r" && i + 1 < scalars.count && scalars[i + 1] == "\n" {
                i += 2
                lineStarts.append(i)
                continue
            }
            i += 1
            if Self.isBreak(c) { lineStarts.append(i) }
        }
    }

    static func isBreak(_ c: Unicode.Scalar) -> Bool {
        c == "\n" || c == "\r" || c == "\u{85}" || c == "\u{2028}" || c == "\u{2029}"
    }

    var lineCount: Int { lineStarts.count }

    /// The offset of `mark`, or nil when it is outside the text.
    func offset(of mark: Mark) -> Int? {
        guard mark.line >= 1, mark.line <= lineStarts.count, mark.column >= 1 else { return nil }
        let offset = lineStarts[mark.line - 1] + mark.column - 1
        return offset <= scalars.count ? offset : nil
    }

    /// The offset just past the last scalar of line `line` (1-based) before its break.
    func lineContentEnd(_ line: Int) -> Int {
        var end = line < lineStarts.count ? lineStarts[line] : scalars.count
        while end > lineStarts[line - 1] && Self.isBreak(scalars[end - 1]) { end -= 1 }
        return end
    }

    /// The offset where line `line` (1-based) starts, or the end of the text past the last line.
    func lineStart(_ line: Int) -> Int { line <= lineStarts.count ? lineStarts[line - 1] : scalars.count }

    /// The scalars of line `line` (1-based) without its break.
    func content(ofLine line: Int) -> ArraySlice<Unicode.Scalar> { scalars[lineStart(line)..<lineContentEnd(line)] }

    /// The break that ends line `line`, or the document's usual one when it has none.
    func lineBreak(after line: Int) -> String {
        var text = String.UnicodeScalarView()
        text.append(contentsOf: scalars[lineContentEnd(line)..<(line < lineStarts.count ? lineStarts[line] : scalars.count)])
        if !text.isEmpty { return String(text) }
        return scalars.contains("\r") && scalars.contains("\n") ? "\r\n" : "\n"
    }

    /// Where a single-line scalar token starting at `start` ends, or nil when it does not end on
    /// its line (a quoted value that goes on to the next line).
    func tokenEnd(from start: Int, style: Node.Scalar.Style) -> Int? {
        switch style {
        case .singleQuoted, .doubleQuoted:
            let quote = scalars[start]
            var i = start + 1
            while i < scalars.count && !Self.isBreak(scalars[i]) {
                if scalars[i] == "\\" && style == .doubleQuoted { i += 2; continue }
                if scalars[i] == quote {
                    if style == .singleQuoted && i + 1 < scalars.count && scalars[i + 1] == "'" { i += 2; continue }
                    return i + 1
                }
                i += 1
            }
            return nil
        default:
            // Plain: up to a comment, a flow delimiter or the end of the line, less trailing blanks.
            var i = start
            while i < scalars.count {
                let c = scalars[i]
                if Self.isBreak(c) || c == "," || c == "}" || c == "]" { break }
                if c == "#" && i > start && (scalars[i - 1] == " " || scalars[i - 1] == "\t") { break }
                i += 1
            }
            while i > start && (scalars[i - 1] == " " || scalars[i - 1] == "\t") { i -= 1 }
            return i
        }
    }

    /// The text of `range`.
    func string(_ range: Range<Int>) -> String {
        var text = String.UnicodeScalarView()
        text.append(contentsOf: scalars[range])
        return String(text)
    }

    /// Applies replacements (non-overlapping ranges; an empty range inserts), all at once.
    func applying(_ edits: [(range: Range<Int>, text: String)]) -> String {
        var result = String.UnicodeScalarView()
        result.reserveCapacity(scalars.count + edits.count * 16)
        var position = 0
        for edit in edits.sorted(by: { ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound) }) {
            guard edit.range.lowerBound >= position else { continue }
            result.append(contentsOf: scalars[position..<edit.range.lowerBound])
            result.append(contentsOf: edit.text.unicodeScalars)
            position = edit.range.upperBound
        }
        result.append(contentsOf: scalars[position...])
        return String(result)
    }
}
