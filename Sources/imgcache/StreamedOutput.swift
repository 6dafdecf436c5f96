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

    /// A JSON object written as it is made, pretty as `printJSON` writes: its members in the
    /// order given (each `fields` call's keys sorted), arrays written item by item.
    func jsonObject() -> JSONObjectWriter { JSONObjectWriter(output: self) }
}

final class JSONObjectWriter {
    private let output: StreamedOutput
    private let encoder = JSONEncoder()
    private var members = 0
    private var items = 0

    fileprivate init(output: StreamedOutput) {
        self.output = output
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        output.write("{")
    }

    /// `value`'s keys (it encodes as an object) as members of this one.
    func fields(_ value: some Encodable) {
        let object = String(decoding: (try? encoder.encode(value)) ?? Data("{}".utf8), as: UTF8.self)
        let inner = object.dropFirst().dropLast().trimmingCharacters(in: .newlines)
        guard !inner.isEmpty else { return }
        output.write((members == 0 ? "\n" : ",\n") + inner)
        members += 1
    }

    /// A member `key` whose array `fill` writes, through `append`, item by item.
    func array(_ key: String, _ fill: () throws -> Void) rethrows {
        let name = String(decoding: (try? encoder.encode(key)) ?? Data(), as: UTF8.self)
        output.write((members == 0 ? "\n" : ",\n") + "  \(name) : [")
        members += 1
        items = 0
        try fill()
        output.write(items == 0 ? "\n\n  ]" : "\n  ]")
    }

    /// One item of the array being filled.
    func append(_ item: some Encodable) {
        guard let data = try? encoder.encode(item) else { return }
        // Four spaces in: the item sits in the array in the object (JSON strings hold no raw newline).
        output.write((items == 0 ? "\n    " : ",\n    ") + ManifestWriter.indented(String(decoding: data, as: UTF8.self)))
        items += 1
    }

    func finish() { output.write("\n}\n") }
}
