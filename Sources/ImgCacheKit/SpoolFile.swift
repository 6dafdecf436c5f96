import CacheStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Values written one line each to a temporary file and read back in the order written: a
/// report that lists 100,000 removed images holds one line at a time, not the list. The file
/// never has a name (tmpfile(3)), so it goes with the process however the process ends.
final class SpoolFile<Value: Codable>: @unchecked Sendable {
    private let file: UnsafeMutablePointer<FILE>
    private let lock = NSLock()
    private let encoder = JSONEncoder()
    private var written = 0

    init() throws(CacheError) {
        guard let file = tmpfile() else {
            throw Self.error("cannot make a temporary file for a report")
        }
        self.file = file
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
    }

    deinit { fclose(file) }

    private static func error(_ what: String) -> CacheError {
        CacheError(.io, "\(what): \(String(cString: strerror(errno)))")
    }

    /// How many values it holds.
    var count: Int { lock.withLock { written } }

    /// Appends `value` as one line of JSON (which never holds a raw newline).
    func append(_ value: Value) throws(CacheError) {
        var line: Data
        do { line = try encoder.encode(value) } catch { throw CacheError.wrapping(error) }
        line.append(UInt8(ascii: "\n"))
        lock.lock()
        defer { lock.unlock() }
        let wrote = line.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        guard wrote == line.count else { throw Self.error("cannot write a report's temporary file") }
        written += 1
    }

    /// Forgets everything written.
    func removeAll() throws(CacheError) {
        lock.lock()
        defer { lock.unlock() }
        guard fflush(file) == 0, ftruncate(fileno(file), 0) == 0 else { throw Self.error("cannot empty a report's temporary file") }
        rewind(file)
        written = 0
    }

    /// Each value in the order written. Appending from `body` deadlocks.
    func forEach(_ body: (Value) throws -> Void) throws {
        try lock.withLock {
            defer { fseek(file, 0, SEEK_END) }
            guard fflush(file) == 0 else { throw Self.error("cannot read a report's temporary file") }
            rewind(file)
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            var line: UnsafeMutablePointer<CChar>?
            var capacity = 0
            defer { free(line) }
            while case let length = getline(&line, &capacity, file), length > 0, let line {
                let data = Data(bytesNoCopy: line, count: length, deallocator: .none)
                try body(try decoder.decode(Value.self, from: data))
            }
        }
    }
}
