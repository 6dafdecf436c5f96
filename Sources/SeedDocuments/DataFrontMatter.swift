import Foundation
import TOMLKit

/// TOML (`+++` … `+++`, Hugo's default and Zola's only form) or JSON (a leading `{ … }` object
/// whose closing `}` stands alone on its line, Hugo's and Eleventy's form) front matter.
public struct DataFrontMatter: Sendable {
    public enum Format: String, Sendable { case toml = "TOML", json = "JSON" }
    public var format: Format
    /// The front matter's text exactly as it stands in the document (for JSON, the braces too).
    public var text: String
    /// Where `text` stands in the document.
    public var range: Range<String.Index>
    /// The 1-based line of the document where `text` starts.
    public var firstLine: Int

    /// The TOML or JSON front matter of `text`; nil when the document starts otherwise (YAML's
    /// `---` is `FrontMatter`'s), or with an opening that is never closed (`unclosed`).
    public static func locate(in text: String) -> Result<DataFrontMatter, FrontMatterProblem>? {
        let lines = Lines(text)
        guard let first = lines.first else { return nil }
        let opening = first.content.drop { $0 == 0xEF || $0 == 0xBB || $0 == 0xBF }  // a byte order mark
        if trimmed(opening).elementsEqual("+++".utf8) {
            guard let close = lines.dropFirst().first(where: { trimmed($0.content).elementsEqual("+++".utf8) }) else {
                return .failure(.unclosed)
            }
            return .success(DataFrontMatter(format: .toml, text: String(text[first.next..<close.start]), range: first.next..<close.start,
                                            firstLine: 2))
        }
        guard opening.first == UInt8(ascii: "{") else { return nil }
        let start = text.utf8.index(first.start, offsetBy: first.content.count - opening.count)
        guard let close = lines.first(where: { trimmed($0.content).elementsEqual("}".utf8) && $0.content.first == UInt8(ascii: "}") }) else {
            return .failure(.unclosed)
        }
        let end = text.utf8.index(close.start, offsetBy: trimmed(close.content).count)
        return .success(DataFrontMatter(format: .json, text: String(text[start..<end]), range: start..<end, firstLine: 1))
    }

    /// `line` without trailing blanks and CR.
    private static func trimmed(_ line: Substring.UTF8View) -> Substring.UTF8View {
        var line = line
        while let last = line.last, last == 0x0D || last == 0x20 || last == 0x09 { line = line.dropLast() }
        return line
    }

    /// The front matter as data: its root table.
    public func data() throws(DataFrontMatterError) -> DataValue {
        switch format {
        case .toml:
            if let refused = TOMLScreen.problem(in: text) {
                throw DataFrontMatterError(line: refused.line + firstLine - 1, message: refused.message)
            }
            do {
                return DataValue(try TOMLTable(string: text))
            } catch let error as TOMLParseError {
                throw DataFrontMatterError(line: error.source.begin.line + firstLine - 1, message: error.description)
            } catch {
                throw DataFrontMatterError(line: nil, message: "\(error)")
            }
        case .json:
            do {
                return try JSONDecoder().decode(DataValue.self, from: Data(text.utf8))
            } catch {
                throw DataFrontMatterError(line: nil, message: Self.describe(error))
            }
        }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context):
            return (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String ?? context.debugDescription
        default: return "\(error)"
        }
    }
}

/// Why TOML or JSON front matter could not be read: the parser's reason and, when it says, the line.
public struct DataFrontMatterError: Error, Sendable {
    public var line: Int?
    public var message: String
}

/// A front matter's data as a plain tree, whatever its syntax: what the seed reader walks and
/// what the write-back compares before and after an edit.
public indirect enum DataValue: Equatable, Sendable, Decodable {
    case string(String), int(Int), double(Double), bool(Bool), null
    case array([DataValue])
    case table([String: DataValue])
    /// A TOML date or time, by its text.
    case other(String)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int.self) { self = .int(value) }
        else if let value = try? container.decode(Double.self) { self = .double(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([DataValue].self) { self = .array(value) }
        else { self = .table(try container.decode([String: DataValue].self)) }
    }

    init(_ value: any TOMLValueConvertible) {
        switch value.type {
        case .table: self = .table(value.table.map { table in Dictionary(table.map { ($0.0, DataValue($0.1)) }, uniquingKeysWith: { a, _ in a }) } ?? [:])
        case .array: self = .array(value.array.map { array in array.map { DataValue($0) } } ?? [])
        case .string: self = .string(value.string ?? "")
        case .int: self = .int(value.int ?? 0)
        case .double: self = .double(value.double ?? 0)
        case .bool: self = .bool(value.bool ?? false)
        default: self = .other(value.debugDescription)
        }
    }

    subscript(key: String) -> DataValue? {
        if case .table(let table) = self { return table[key] }
        return nil
    }

    /// A front matter's lists of image entries, where seeds keep them: `images`, then each
    /// `related[].images` (as written: a list is checked by its reader).
    var imageLists: [(value: DataValue, related: Bool)] {
        var lists: [(DataValue, Bool)] = self["images"].map { [($0, false)] } ?? []
        if case .array(let related)? = self["related"] {
            lists += related.compactMap { article in article["images"].map { ($0, true) } }
        }
        return lists
    }

    /// Every image entry of the lists that are lists.
    var imageEntries: [DataValue] {
        imageLists.flatMap { list -> [DataValue] in
            if case .array(let entries) = list.value { return entries }
            return []
        }
    }

    /// The same front matter with each image entry (of `imageLists`) replaced by `transform(entry)`.
    func mappingImageEntries(_ transform: (DataValue) -> DataValue) -> DataValue {
        func mapList(_ list: DataValue?) -> DataValue? {
            guard case .array(let entries)? = list else { return list }
            return .array(entries.map(transform))
        }
        guard case .table(var fields) = self else { return self }
        fields["images"] = mapList(fields["images"])
        if case .array(let related)? = fields["related"] {
            fields["related"] = .array(related.map { article in
                guard case .table(var articleFields) = article else { return article }
                articleFields["images"] = mapList(articleFields["images"])
                return .table(articleFields)
            })
        }
        return .table(fields)
    }
}

/// A text's lines over its UTF-8 view: each line's start, its content (without the LF) and
/// where the next line starts.
struct Lines: Sequence {
    struct Line {
        var start: String.Index
        var content: Substring.UTF8View
        var next: String.Index
    }
    let text: String
    init(_ text: String) { self.text = text }

    func makeIterator() -> AnyIterator<Line> {
        let utf8 = text.utf8
        var start = utf8.startIndex
        return AnyIterator {
            guard start < utf8.endIndex else { return nil }
            let newline = utf8[start...].firstIndex(of: 0x0A)
            let next = newline.map { utf8.index(after: $0) } ?? utf8.endIndex
            let line = Line(start: start, content: text[start..<(newline ?? utf8.endIndex)].utf8, next: next)
            start = next
            return line
        }
    }

    var first: Line? { makeIterator().next() }
}
