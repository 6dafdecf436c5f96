import Foundation

/// Checks TOML front matter's structure before toml++ (inside TOMLKit 0.6) parses it. toml++ 3.4
/// aborts the whole process on an assertion for some malformed inputs (FuzzSeeds found
/// `2025-03-01T=9` and `[ = …`) instead of reporting an error, and a seed file must never take a
/// sync or a server down. So only TOML whose shape is plainly right reaches it: lines of
/// `[table]`, `[[array.of.tables]]` and `key = value`, keys bare or quoted (dotted), values
/// strings, booleans, numbers, dates and times of TOML's forms, arrays (over several lines) and
/// one-line inline tables. Anything else is refused with its line, which costs nothing for the
/// front matter sites write. It checks shape only; the values' meaning is toml++'s to read.
struct TOMLScreen {
    private let lexemes: [DataTokens.Lexeme]
    private var position = 0
    /// Nesting of arrays and inline tables: bounded, as toml++'s own 256.
    private var depth = 0
    private static let maxDepth = 64

    /// The line of the first thing refused, and why; nil when the text may be given to toml++.
    static func problem(in text: String) -> (line: Int, message: String)? {
        var screen = TOMLScreen(lexemes: DataTokens.lexemes(text, format: .toml, newlines: true))
        do {
            try screen.document()
            return nil
        } catch {
            return (error.line, error.message)
        }
    }

    private struct Refusal: Error {
        var line: Int
        var message: String
    }

    private init(lexemes: [DataTokens.Lexeme]) { self.lexemes = lexemes }

    private var current: DataTokens.Lexeme? { position < lexemes.count ? lexemes[position] : nil }
    private var line: Int { current?.line ?? lexemes.last?.line ?? 1 }

    private func refuse(_ message: String) -> Refusal { Refusal(line: line, message: message) }

    private func isPunctuation(_ byte: Character) -> Bool {
        guard let ascii = byte.asciiValue, case .punctuation(let found)? = current?.kind else { return false }
        return found == ascii
    }

    private mutating func expect(_ byte: Character, _ what: String) throws(Refusal) {
        guard isPunctuation(byte) else { throw refuse("expected \(what)") }
        position += 1
    }

    private mutating func skipNewlines() { while isPunctuation("\n") { position += 1 } }

    private mutating func document() throws(Refusal) {
        while current != nil {
            skipNewlines()
            guard current != nil else { return }
            if isPunctuation("[") { try header() } else { try keyValue() }
            guard current == nil || isPunctuation("\n") else { throw refuse("expected the end of the line") }
        }
    }

    /// `[a.b]` or `[[a.b]]`, the brackets of an array of tables adjacent.
    private mutating func header() throws(Refusal) {
        let open = lexemes[position].range.lowerBound
        position += 1
        let double = isPunctuation("[") && current?.range.lowerBound == open + 1
        if double { position += 1 }
        try key()
        try expect("]", "']' closing the table header")
        if double {
            guard isPunctuation("]"), current?.range.lowerBound == lexemes[position - 1].range.upperBound else {
                throw refuse("expected ']]' closing the array of tables")
            }
            position += 1
        }
    }

    private mutating func keyValue() throws(Refusal) {
        try key()
        try expect("=", "'=' after a key")
        try value()
    }

    /// Bare parts (letters, digits, `_`, `-`, joined by dots) and quoted parts, joined by dots:
    /// a bare word may start with the dot after a quoted part or end with the dot before one.
    private mutating func key() throws(Refusal) {
        var afterString = false, wantsPart = true
        while wantsPart {
            switch current?.kind {
            case .string?:
                position += 1
                afterString = true
                wantsPart = false
            case .bare(let word)?:
                var parts = word.split(separator: ".", omittingEmptySubsequences: false)
                if word.first == "." {
                    guard afterString else { throw refuse("'\(word)' is not a key") }
                    parts.removeFirst()
                }
                wantsPart = word.count > 1 && word.last == "."
                if wantsPart { parts.removeLast() }
                guard parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" } }) else {
                    throw refuse("'\(word)' is not a key")
                }
                position += 1
                afterString = false
            default:
                throw refuse("expected a key")
            }
            // A quoted part may be followed by `.rest` (a bare word starting with the dot).
            if !wantsPart, afterString, case .bare(let next)? = current?.kind, next.first == "." { wantsPart = true }
        }
    }

    private mutating func value() throws(Refusal) {
        switch current?.kind {
        case .string?: position += 1
        case .bare?: try scalar()
        case .punctuation(UInt8(ascii: "["))?: try nested { (screen: inout TOMLScreen) throws(Refusal) in try screen.array() }
        case .punctuation(UInt8(ascii: "{"))?: try nested { (screen: inout TOMLScreen) throws(Refusal) in try screen.inlineTable() }
        default: throw refuse("expected a value")
        }
    }

    private mutating func nested(_ body: (inout TOMLScreen) throws(Refusal) -> Void) throws(Refusal) {
        depth += 1
        guard depth <= Self.maxDepth else { throw refuse("arrays and inline tables nested more than \(Self.maxDepth) deep") }
        try body(&self)
        depth -= 1
    }

    private mutating func array() throws(Refusal) {
        position += 1
        skipNewlines()
        while !isPunctuation("]") {
            try value()
            skipNewlines()
            guard isPunctuation(",") else { break }
            position += 1
            skipNewlines()
        }
        try expect("]", "',' or ']' in an array")
    }

    /// `{ key = value, … }` on one line (TOML 1.0).
    private mutating func inlineTable() throws(Refusal) {
        position += 1
        if isPunctuation("}") { position += 1; return }
        while true {
            try keyValue()
            guard isPunctuation(",") else { break }
            position += 1
        }
        try expect("}", "',' or '}' in an inline table")
    }

    /// A boolean, a number, or a date and time: the bare words and `:` of one value, which must
    /// read whole as one of TOML's forms.
    private mutating func scalar() throws(Refusal) {
        var text = ""
        var last = lexemes[position].range.upperBound
        while let lexeme = current {
            let adjacent = lexeme.range.lowerBound == last
            switch lexeme.kind {
            case .bare(let word) where text.isEmpty || adjacent || (lexeme.range.lowerBound == last + 1 && Self.startsTime(word, after: text)):
                text += (adjacent || text.isEmpty ? "" : " ") + word
            case .punctuation(UInt8(ascii: ":")) where adjacent:
                text += ":"
            default:
                try check(text)
                return
            }
            last = lexeme.range.upperBound
            position += 1
        }
        try check(text)
    }

    /// After a date, `HH:` starts the time of a date-time written with a space.
    private static func startsTime(_ word: String, after text: String) -> Bool {
        text.wholeMatch(of: dateOnly) != nil && word.count == 2 && word.allSatisfy(\.isNumber)
    }

    nonisolated(unsafe) private static let dateOnly = /\d{4}-\d{2}-\d{2}/
    nonisolated(unsafe) private static let forms: [Regex<Substring>] = [
        /true|false/,
        /[+-]?(?:0|[1-9](?:_?\d)*)/,
        /0x[0-9A-Fa-f](?:_?[0-9A-Fa-f])*|0o[0-7](?:_?[0-7])*|0b[01](?:_?[01])*/,
        /[+-]?(?:0|[1-9](?:_?\d)*)(?:\.\d(?:_?\d)*)?(?:[eE][+-]?\d(?:_?\d)*)?/,
        /[+-]?(?:inf|nan)/,
        /\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[Zz]|[+-]\d{2}:\d{2})?)?/,
        /\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?/,
    ]

    private func check(_ text: String) throws(Refusal) {
        guard Self.forms.contains(where: { text.wholeMatch(of: $0) != nil }) else {
            throw refuse("'\(text.prefix(40))' is not a TOML value imgcache reads (a string, boolean, number, date or time)")
        }
    }
}
