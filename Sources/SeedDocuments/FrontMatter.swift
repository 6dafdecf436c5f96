/// The YAML front matter block at the start of a document: `---` on the first line, the YAML,
/// then a closing `---` (or `...`) line.
public struct FrontMatter: Hashable, Sendable {
    /// The YAML text between the fences.
    public var yaml: String
    /// The 1-based line of the document where the YAML starts (the line after the opening fence).
    public var firstLine: Int

    /// Finds the front matter of `text`, or explains why there is none.
    public static func locate(in text: String) -> Result<FrontMatter, FrontMatterProblem> {
        // "\r\n" is one Character in Swift: split on both line endings.
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })[...]
        // A byte order mark before the fence is tolerated.
        guard let first = lines.first, isFence(first.drop { $0 == "\u{FEFF}" }) else { return .failure(.missing) }
        lines = lines.dropFirst()
        var yaml: [Substring] = []
        for line in lines {
            if isFence(line) || trimmed(line) == "..." {
                return .success(FrontMatter(yaml: yaml.joined(separator: "\n") + "\n", firstLine: 2))
            }
            yaml.append(line)
        }
        return .failure(.unclosed)
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
