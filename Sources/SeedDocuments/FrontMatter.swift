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
        // Lines by LF over the UTF-8 view ("\r\n" ends in LF too; no Character segmentation).
        let utf8 = text.utf8
        var lineStart = utf8.startIndex
        var yamlStart: String.Index?
        while lineStart < utf8.endIndex {
            let newline = utf8[lineStart...].firstIndex(of: 0x0A)
            let lineEnd = newline ?? utf8.endIndex
            let next = newline.map { utf8.index(after: $0) } ?? utf8.endIndex
            let line = utf8[lineStart..<lineEnd]
            if let start = yamlStart {
                if isFence(line, "---") || isFence(line, "...") {
                    return .success(FrontMatter(yaml: String(text[start..<lineStart]), range: start..<lineStart, firstLine: 2))
                }
            } else {
                // A byte order mark before the opening fence is tolerated (and kept in the text).
                let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
                let withoutBOM = line.starts(with: bom) ? line.dropFirst(3) : line
                guard isFence(withoutBOM, "---") else { return .failure(.missing) }
                yamlStart = next
            }
            lineStart = next
        }
        return .failure(yamlStart == nil ? .missing : .unclosed)
    }

    /// Whether `line` is `fence` followed only by blanks (and the CR of a CR LF).
    private static func isFence(_ line: Substring.UTF8View.SubSequence, _ fence: StaticString) -> Bool {
        var line = line
        while let last = line.last, last == 0x0D || last == 0x20 || last == 0x09 { line = line.dropLast() }
        return line.elementsEqual(UnsafeBufferPointer(start: fence.utf8Start, count: fence.utf8CodeUnitCount))
    }
}

public enum FrontMatterProblem: Error, Hashable, Sendable {
    /// The document does not start with a `---` line.
    case missing
    /// The opening `---` has no closing `---`.
    case unclosed
}
