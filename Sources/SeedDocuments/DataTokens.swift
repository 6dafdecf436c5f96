import Foundation

/// Where the `url` and `isCached` values of TOML or JSON front matter stand: a lexer that knows
/// strings (TOML's four kinds, JSON's one) and comments, so a `#` or a `"isCached": true` inside
/// a string is never taken for syntax. The parsers (TOMLKit, JSONDecoder) give the data but no
/// positions; these positions are checked against the data before any edit is kept.
struct DataTokens {
    enum Kind: Equatable { case string(String), bare(String), punctuation(UInt8) }
    struct Lexeme {
        var kind: Kind
        /// UTF-8 offsets in the text.
        var range: Range<Int>
        /// 1-based line in the text.
        var line: Int
    }

    /// A `key = value` (TOML) or `"key": value` (JSON) pair whose key is `url` or `isCached`.
    struct Pair {
        var key: String
        var value: Lexeme
    }

    /// The url and isCached pairs, in the text's order.
    static func pairs(in text: String, format: DataFrontMatter.Format) -> [Pair] {
        let lexemes = lex(Array(text.utf8), format: format)
        let separator = UInt8(ascii: format == .toml ? "=" : ":")
        var pairs: [Pair] = []
        for index in lexemes.indices.dropLast(2) {
            guard lexemes[index + 1].kind == .punctuation(separator) else { continue }
            let key: String
            switch lexemes[index].kind {
            case .string(let name): key = name
            case .bare(let name) where format == .toml: key = name
            default: continue
            }
            guard key == "url" || key == "isCached" else { continue }
            pairs.append(Pair(key: key, value: lexemes[index + 2]))
        }
        return pairs
    }

    /// Every lexeme of `text`; with `newlines`, each line break is a `\n` punctuation lexeme
    /// (what `TOMLScreen` reads); an unclosed string is a `\0` punctuation lexeme.
    static func lexemes(_ text: String, format: DataFrontMatter.Format, newlines: Bool) -> [Lexeme] {
        lex(Array(text.utf8), format: format, newlines: newlines)
    }

    private static func lex(_ bytes: [UInt8], format: DataFrontMatter.Format, newlines: Bool = false) -> [Lexeme] {
        var lexemes: [Lexeme] = []
        var position = 0, line = 1
        while position < bytes.count {
            let byte = bytes[position]
            switch byte {
            case 0x0A:
                if newlines { lexemes.append(Lexeme(kind: .punctuation(0x0A), range: position..<position + 1, line: line)) }
                line += 1
                position += 1
            case 0x0D where format == .toml && (position + 1 == bytes.count || bytes[position + 1] != 0x0A):
                // A carriage return not ending a line is no TOML whitespace (toml++ asserts on it in a key).
                lexemes.append(Lexeme(kind: .punctuation(0x0D), range: position..<position + 1, line: line))
                position += 1
            case 0x20, 0x09, 0x0D:
                position += 1
            case UInt8(ascii: "#") where format == .toml:
                while position < bytes.count && bytes[position] != 0x0A { position += 1 }
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                let start = position, startLine = line
                let decoded = string(bytes, at: &position, line: &line, format: format)
                lexemes.append(Lexeme(kind: decoded.map(Kind.string) ?? .punctuation(0), range: start..<position, line: startLine))
            case _ where isBare(byte):
                let start = position
                while position < bytes.count && isBare(bytes[position]) { position += 1 }
                lexemes.append(Lexeme(kind: .bare(String(decoding: bytes[start..<position], as: UTF8.self)), range: start..<position, line: line))
            default:
                lexemes.append(Lexeme(kind: .punctuation(byte), range: position..<position + 1, line: line))
                position += 1
            }
        }
        return lexemes
    }

    private static func isBare(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
            || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".")
            || byte >= 0x80
    }

    /// Reads the string starting at `position` (a quote) up to and including its closing quote;
    /// returns its value (escapes decoded as JSON decodes them; TOML literal strings verbatim),
    /// or nil when it is never closed.
    private static func string(_ bytes: [UInt8], at position: inout Int, line: inout Int, format: DataFrontMatter.Format) -> String? {
        let quote = bytes[position]
        let triple = format == .toml && position + 2 < bytes.count && bytes[position + 1] == quote && bytes[position + 2] == quote
        let opening = triple ? 3 : 1
        let start = position + opening
        position = start
        while position < bytes.count {
            let byte = bytes[position]
            if byte == 0x0A { line += 1 }
            if byte == UInt8(ascii: "\\") && quote == UInt8(ascii: "\"") { position += 2; continue }
            if byte == quote && (!triple || (position + 2 < bytes.count && bytes[position + 1] == quote && bytes[position + 2] == quote)) {
                let body = Array(bytes[start..<position])
                position += opening
                return decode(body, escapes: quote == UInt8(ascii: "\"") && !triple)
            }
            if !triple && byte == 0x0A { break }  // an unclosed one-line string: the parser reports it
            position += 1
        }
        position = min(position, bytes.count)
        return nil
    }

    /// A string's value: a JSON-escaped body decoded as JSON decodes it.
    private static func decode(_ body: [UInt8], escapes: Bool) -> String {
        guard escapes, body.contains(UInt8(ascii: "\\")) else { return String(decoding: body, as: UTF8.self) }
        let quoted = Data([UInt8(ascii: "\"")] + body + [UInt8(ascii: "\"")])
        return (try? JSONDecoder().decode(String.self, from: quoted)) ?? String(decoding: body, as: UTF8.self)
    }
}
