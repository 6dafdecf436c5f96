import AtomicFiles
import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
private let systemRead = Glibc.read
#elseif canImport(Darwin)
import Darwin
private let systemRead = Darwin.read
#endif

/// Content-addressed files under the cache folder:
///
///     objects/ab/cd/<sha256>          originals, once per SHA-256 of their bytes
///     thumbs/ab/cd/<key>.<ext>        thumbnails, keyed by hash(digest, variant, pipeline)
///     tmp/<pid>-<random>              files being written
///
/// Two levels of 256-way fan-out keep every folder small (1M objects: ~15 per folder).
/// Every file is written to `tmp/`, fsynced, then renamed into place, so a reader or a killed
/// writer never leaves a partial file under its final name.
public struct BlobStore: Sendable {
    public let root: URL
    /// `root.path`, for building paths by concatenation (URL path APIs parse; prune builds 400,000 paths).
    private let rootPath: String

    public init(root: URL) throws(CacheError) {
        self.root = root
        rootPath = root.path
        for folder in ["objects", "thumbs", "tmp"] {
            do {
                try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
            } catch {
                throw CacheError(.io, "cannot create \(root.appendingPathComponent(folder).path): \(error.localizedDescription)")
            }
        }
    }

    /// Lower-case hex SHA-256 of `data`.
    public static func digest(_ data: Data) -> String {
        hex(SHA256.hash(data: data))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Lower-case hex of `bytes` (String(format:) per byte is slow enough to show in profiles).
    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var utf8: [UInt8] = []
        utf8.reserveCapacity(64)
        for byte in bytes {
            utf8.append(hexDigits[Int(byte >> 4)])
            utf8.append(hexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: utf8, as: UTF8.self)
    }

    /// SHA-256 and size of a file, read in 1 MB blocks (never whole). Nil when it cannot be read.
    public static func digest(ofFile path: String) -> (digest: String, bytes: Int)? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var hasher = SHA256()
        let capacity = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 64)
        defer { buffer.deallocate() }
        var total = 0
        while true {
            let count = systemRead(descriptor, buffer.baseAddress, capacity)
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { return nil }
            if count == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            total += count
        }
        return (hex(hasher.finalize()), total)
    }

    /// Lower-case hex SHA-256 of a string (for thumbnail keys).
    public static func digest(_ text: String) -> String { digest(Data(text.utf8)) }

    public func objectPath(_ digest: String) -> String {
        fanOut("objects", digest, suffix: "")
    }

    public func thumbnailPath(_ key: String, fileExtension: String) -> String {
        fanOut("thumbs", key, suffix: "." + fileExtension)
    }

    public func thumbnailPath(_ record: ThumbnailRecord) -> String {
        thumbnailPath(record.key, fileExtension: record.fileExtension)
    }

    private func fanOut(_ kind: String, _ name: String, suffix: String) -> String {
        let a = name.prefix(2), b = name.dropFirst(2).prefix(2)
        return "\(rootPath)/\(kind)/\(a)/\(b)/\(name)\(suffix)"
    }

    public func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    public func read(_ path: String) throws(CacheError) -> Data {
        guard let data = FileManager.default.contents(atPath: path) else { throw CacheError(.io, "cannot read \(path)") }
        return data
    }

    /// Writes `data` to `path` atomically. Writing the same content twice (another process,
    /// another URL) is harmless: the rename replaces a file with an identical one.
    public func write(_ data: Data, to path: String) throws(CacheError) {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw CacheError(.io, "cannot create \(directory): \(error.localizedDescription)")
        }
        let temporary = root.appendingPathComponent("tmp/\(getpid())-\(UInt64.random(in: 0...UInt64.max))").path
        do {
            try AtomicFile.write(data, to: path, temporaryPath: temporary)
        } catch {
            throw CacheError(.io, error.message)
        }
    }

    /// Removes temporary files left by processes that are no longer running (a killed sync).
    /// Returns how many were removed. Files of live processes are left alone.
    @discardableResult
    public func sweepTemporaryFiles() -> Int {
        abandonedTemporaryFiles().filter { unlink($0) == 0 }.count
    }

    /// Temporary files whose writer (the pid in their name) is no longer running.
    public func abandonedTemporaryFiles() -> [String] {
        let folder = root.appendingPathComponent("tmp").path
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        return names.sorted().compactMap { name in
            let owner = name.split(separator: "-").first.flatMap { pid_t($0) }
            if let owner, owner == getpid() || kill(owner, 0) == 0 || errno == EPERM { return nil }
            return folder + "/" + name
        }
    }
}

/// Why the cache could not be read or written.
public struct CacheError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public static let io = Code("cache i/o")
        public static let database = Code("cache index")
        public var description: String { name }
    }
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "\(code): \(message)" }
}
