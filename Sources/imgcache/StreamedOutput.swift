import Foundation
import ImgCacheKit

/// Standard output written as it is made, through a 64 KB buffer: a command that lists a
/// million images holds one buffer of them, not the listing.
final class StreamedOutput {
    private var buffer = Data()

    func write(_ text: String) { write(Data(text.utf8)) }

    func write(_ data: Data) {
        buffer.append(data)
        if buffer.count >= 1 << 16 { flush() }
    }

    func flush() {
        guard !buffer.isEmpty else { return }
        FileHandle.standardOutput.write(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// A JSON object written as its first key's array grows: `{"<key>": [items…], <rest>}`,
    /// pretty and key-sorted as `printJSON` writes (the array's key must sort before the rest's).
    func jsonArray(key: String) -> JSONArrayWriter { JSONArrayWriter(output: self, key: key) }
}

final class JSONArrayWriter {
    private let output: StreamedOutput
    private let encoder = JSONEncoder()
    private var count = 0

    fileprivate init(output: StreamedOutput, key: String) {
        self.output = output
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        output.write("{\n  \(String(decoding: (try? encoder.encode(key)) ?? Data(), as: UTF8.self)) : [")
    }

    func append(_ item: some Encodable) {
        guard let data = try? encoder.encode(item) else { return }
        // Four spaces in: the item sits in the array in the object (JSON strings hold no raw newline).
        output.write((count == 0 ? "\n    " : ",\n    ") + ManifestWriter.indented(String(decoding: data, as: UTF8.self)))
        count += 1
    }

    /// Ends the array and the object with `rest`'s keys after it.
    func finish(rest: some Encodable) {
        output.write(count == 0 ? "\n\n  ]" : "\n  ]")
        let object = String(decoding: (try? encoder.encode(rest)) ?? Data("{}".utf8), as: UTF8.self)
        let inner = object.dropFirst().dropLast().trimmingCharacters(in: .newlines)
        output.write(inner.isEmpty ? "\n}\n" : ",\n" + inner + "\n}\n")
    }
}
