import Dispatch
import Foundation

/// Everything found under a seeds folder.
public struct SeedScan: Sendable {
    /// Documents that parsed, sorted by path (entries they skipped are in their `problems`).
    public var documents: [SeedDocument]
    /// Files that were skipped whole, with the reason.
    public var errors: [SeedError]

    /// Every problem: skipped files, then skipped entries.
    public var allProblems: [SeedError] { errors + documents.flatMap(\.problems) }

    /// One entry per distinct URL, in order of first appearance: one URL in several places is one image.
    public var catalog: [CatalogEntry] {
        var order: [String] = []
        var byURL: [String: CatalogEntry] = [:]
        for document in documents {
            for image in document.images {
                let place = SeedLocation(path: document.path, line: image.line)
                if var entry = byURL[image.url] {
                    entry.references.append(place)
                    entry.width = entry.width ?? image.width
                    entry.height = entry.height ?? image.height
                    byURL[image.url] = entry
                } else {
                    order.append(image.url)
                    byURL[image.url] = CatalogEntry(url: image.url, width: image.width, height: image.height,
                                                    references: [place])
                }
            }
        }
        return order.map { byURL[$0]! }
    }
}

/// Where a URL is referenced.
public struct SeedLocation: Hashable, Sendable, CustomStringConvertible {
    public var path: String
    public var line: Int
    public var description: String { "\(path):\(line)" }
}

/// One distinct image URL and every place that references it.
public struct CatalogEntry: Hashable, Sendable {
    public var url: String
    /// The first declared width and height found for it.
    public var width: Int?
    public var height: Int?
    public var references: [SeedLocation]
}

/// Disjoint slots written by concurrent iterations (each index by exactly one).
private struct SendableSlots<T>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<T>
    init(_ buffer: UnsafeMutableBufferPointer<T>) { self.buffer = buffer }
}

/// Walks a folder for seed documents: every regular file, whatever its extension, that is
/// not hidden. A file that is not a seed (no front matter, not UTF-8, invalid YAML) is
/// reported and skipped; it never stops the scan.
public enum SeedScanner {
    /// Seed files are small; anything larger is not one.
    public static let maxFileBytes = 4 * 1024 * 1024

    public static func scan(directory: String) -> SeedScan {
        var scan = SeedScan(documents: [], errors: [])
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            scan.errors.append(SeedError(.unreadable, path: directory, "not a directory"))
            return scan
        }
        // Files parse independently: on every core, results kept in path order.
        let paths = files(under: directory)
        let results = UnsafeMutableBufferPointer<Result<SeedDocument, SeedError>?>.allocate(capacity: paths.count)
        results.initialize(repeating: nil)
        defer { results.deallocate() }
        let slots = SendableSlots(results)
        DispatchQueue.concurrentPerform(iterations: paths.count) { index in slots.buffer[index] = load(paths[index]) }
        for result in results {
            switch result {
            case .success(let document)?: scan.documents.append(document)
            case .failure(let error)?: scan.errors.append(error)
            case nil: break
            }
        }
        return scan
    }

    /// Reads and parses one file.
    public static func load(_ path: String) -> Result<SeedDocument, SeedError> {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        if let size = attributes?[.size] as? Int, size > maxFileBytes {
            return .failure(SeedError(.unreadable, path: path, "\(size) bytes is too large for a seed file"))
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure(SeedError(.unreadable, path: path, "cannot read the file"))
        }
        guard let text = String(data: data, encoding: .utf8) else {
            return .failure(SeedError(.notUTF8, path: path, line: firstInvalidLine(data), "the file is not UTF-8 text"))
        }
        return Result { () throws(SeedError) in try SeedParser.parse(text, path: path) }
    }

    /// Regular, non-hidden files below `directory` (following no symlinked folders), sorted.
    static func files(under directory: String) -> [String] {
        let root = URL(fileURLWithPath: directory)
        guard let enumerator = FileManager.default.enumerator(
            at: root, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles]) else { return [] }
        var paths: [String] = []
        for case let url as URL in enumerator {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true else { continue }
            paths.append(url.path)
        }
        return paths.sorted()
    }

    /// The 1-based line holding the first byte sequence that is not UTF-8.
    static func firstInvalidLine(_ data: Data) -> Int? {
        var line = 1, start = 0
        let bytes = [UInt8](data)
        for (index, byte) in bytes.enumerated() where byte == 0x0A {
            if String(bytes: bytes[start..<index], encoding: .utf8) == nil { return line }
            line += 1
            start = index + 1
        }
        return String(bytes: bytes[start...], encoding: .utf8) == nil ? line : nil
    }
}
