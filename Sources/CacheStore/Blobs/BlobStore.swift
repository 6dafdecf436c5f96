import AtomicFiles
import Crypto
import Dispatch
import Foundation
import Synchronization
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
public struct BlobStore: BlobStorage {
    public let root: URL
    /// `root.path`, for building paths by concatenation (URL path APIs parse; prune builds 400,000 paths).
    let rootPath: String

    public init(root: URL) throws(CacheError) {
        self.root = root
        rootPath = root.path
        for folder in ["objects", "thumbs", "tmp"] {
            do {
                try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
            } catch {
                throw CacheError(.io, "cannot create \(root.appendingPathComponent(folder).path): \(error.localizedDescription)", cause: error)
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

    public func objectPath(_ digest: String) -> String { path(.original(digest)) }

    public func thumbnailPath(_ key: String, fileExtension: String) -> String {
        path(.thumbnail(key, fileExtension: fileExtension))
    }

    public func thumbnailPath(_ record: ThumbnailRecord) -> String { path(record.blobKey) }

    /// The file of `key`.
    public func path(_ key: BlobKey) -> String { rootPath + "/" + key.relativePath }

    /// The folder is there and can be listed.
    public func checkReachable() throws(CacheError) {
        guard access(rootPath, R_OK | X_OK) == 0 else {
            throw CacheError(.io, "the cache folder \(rootPath) cannot be read: \(String(cString: strerror(errno)))")
        }
    }

    /// Whether a file can be written in the folder now (a full disk, a read-only mount: an error naming it).
    public func checkWritable() throws(CacheError) {
        let probe = rootPath + "/tmp/.ready-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let descriptor = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw CacheError(.io, "cannot write in \(rootPath): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor); unlink(probe) }
        let written = [UInt8](repeating: 0, count: 4096).withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, 4096) }
        guard written == 4096 else { throw CacheError(.io, "cannot write in \(rootPath): \(String(cString: strerror(errno)))") }
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
            throw CacheError(.io, "cannot create \(directory): \(error.localizedDescription)", cause: error)
        }
        let temporary = root.appendingPathComponent("tmp/\(getpid())-\(UInt64.random(in: 0...UInt64.max))").path
        do {
            try AtomicFile.write(data, to: path, temporaryPath: temporary)
        } catch {
            throw CacheError(.io, error.message, cause: error)
        }
    }

    /// Removes temporary files left by processes that are no longer running (a killed sync).
    /// Returns how many were removed. Files of live processes are left alone.
    @discardableResult
    public func sweepTemporaryFiles() -> Int {
        abandonedTemporaryFiles().filter { unlink(rootPath + "/" + $0) == 0 }.count
    }

    /// Temporary files (`tmp/<pid>-<random>`, relative to the root) whose writer is no longer running.
    public func abandonedTemporaryFiles() -> [String] {
        let folder = root.appendingPathComponent("tmp").path
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        return names.sorted().compactMap { name in
            let owner = name.split(separator: "-").first.flatMap { pid_t($0) }
            if let owner, owner == getpid() || kill(owner, 0) == 0 || errno == EPERM { return nil }
            return "tmp/" + name
        }
    }
}

// MARK: - BlobStorage

extension BlobStore {
    public func put(_ data: Data, as key: BlobKey) throws(CacheError) { try write(data, to: path(key)) }

    public func get(_ key: BlobKey) throws(CacheError) -> Data { try read(path(key)) }

    public func exists(_ key: BlobKey) -> Bool { exists(path(key)) }

    public func localFile(_ key: BlobKey) -> String? { path(key) }

    public func hash(_ key: BlobKey) -> (digest: String, bytes: Int)? { Self.digest(ofFile: path(key)) }

    /// Unlinks on every core (prune removes 400,000 files at a time).
    public func delete(_ keys: [BlobKey]) -> Int {
        let workers = min(max(1, ProcessInfo.processInfo.activeProcessorCount), max(1, keys.count / 1000))
        let removed = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var count = 0
            // Each path made as it is unlinked: a prune of 100,000 images does not hold 300,000 paths.
            for index in stride(from: worker, to: keys.count, by: workers) where unlink(path(keys[index])) == 0 { count += 1 }
            removed.add(count, ordering: .relaxed)
        }
        return removed.load(ordering: .relaxed)
    }

    /// Regular files two fan-out levels under `objects/` and `thumbs/`; a file whose name is
    /// not a blob key is listed by nothing (verify reports it as a stray from its own walk).
    public func list(_ batch: ([StoredBlob]) throws -> Void) throws(CacheError) {
        let manager = FileManager.default
        for folder in ["objects", "thumbs"] {
            let base = rootPath + "/" + folder
            for first in (try? manager.contentsOfDirectory(atPath: base))?.sorted() ?? [] {
                for second in (try? manager.contentsOfDirectory(atPath: base + "/" + first))?.sorted() ?? [] {
                    var blobs: [StoredBlob] = []
                    for name in (try? manager.contentsOfDirectory(atPath: base + "/" + first + "/" + second)) ?? [] {
                        let relative = folder + "/" + first + "/" + second + "/" + name
                        var info = stat()
                        guard let key = BlobKey(relativePath: relative), stat(rootPath + "/" + relative, &info) == 0,
                              (info.st_mode & S_IFMT) == S_IFREG else { continue }
                        blobs.append(StoredBlob(key: key, bytes: Int(info.st_size),
                                                modified: Date(timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec))))
                    }
                    do { try batch(blobs) } catch { throw CacheError.wrapping(error) }
                }
            }
        }
    }
}
