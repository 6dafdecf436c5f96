/// The YAML front matter block at the start of a document: `---` on the first line, the YAML,
/// then a closing `---` (or `...`) line.
public struct FrontMatter: Hashable, Sendable {
    /// The YAML text between the fences, exactly as it stands in the document (line endings
    /// and all), so positions in it map one to one onto the document.
    public var yaml: String
    /// Where `yaml` stands in the document it was found in.
    public var range: Range<String.Index>
    /// The 1-based line of the document where the YAML starts (the line after the opening fence).
    public var firstLine: Int

    /// Finds the front matter of `text`, or explains why there is none.
    public static func locate(in text: String) -> Result<FrontMatter, FrontMatterProblem> {
        // Lines by "\n" (a "\r\n" is one Character in Swift, and ends in "\n" too).
        var lineStart = text.startIndex
        var index = text.startIndex
        var yamlStart: String.Index?
        while index < text.endIndex {
            let character = text[index]
            let next = text.index(after: index)
            if character == "\n" || character == "\r\n" || next == text.endIndex {
                let line = text[lineStart..<(character == "\n" || character == "\r\n" ? index : next)]
                if let start = yamlStart {
                    if isFence(line) || trimmed(line) == "..." {
                        return .success(FrontMatter(yaml: String(text[start..<lineStart]), range: start..<lineStart, firstLine: 2))
                    }
                } else {
                    // A byte order mark before the opening fence is tolerated (and kept in the text).
                    guard isFence(line.drop { $0 == "\u{FEFF}" }) else { return .failure(.missing) }
                    yamlStart = next
                }
                lineStart = next
            }
            index = next
        }
        return .failure(yamlStart == nil ? .missing : .unclosed)
    }

    private static func trimmed(_ line: Substring) -> Substring {
        var line = line
        while let last = line.last, last == "\r" || last == " " || last == "\t" { line = line.dropLast() }
        return line
    }

    private static func isFence(_ line: Substring) -> Bool { trimmed(line) == "---" }
}

public enum FrontMatterProblem: Error, Hashable, Sendable {
    /// The document does not start with a `---` line.
    case missing
    /// The opening `---` has no closing `---`.
    case unclosed
}
