import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file written in pieces and then put in place whole, as `AtomicFile` does for one piece:
/// appends go to a temporary name beside the destination; `commit` fsyncs and renames it over
/// the destination, unless the destination already holds the same bytes (then it is left
/// alone, its time unchanged); `discard` removes it. What a reader of the destination sees is
/// the old file or the new, never a partial one.
public final class StagedFile {
    public let path: String
    private let temporary: String
    private var fd: Int32

    public init(replacing path: String, mode: mode_t = 0o644) throws(AtomicFileError) {
        self.path = path
        temporary = path + ".tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw AtomicFileError("cannot create \(temporary)", errno: errno) }
    }

    deinit { if fd >= 0 { discard() } }

    public func append(_ data: Data) throws(AtomicFileError) {
        if let failure = AtomicFile.writeAll(fd, data) { throw AtomicFileError("cannot write \(temporary)", errno: failure) }
    }

    /// Puts the file in place: whether the destination changed.
    @discardableResult
    public func commit() throws(AtomicFileError) -> Bool {
        defer { fd = -1 }
        if Self.sameBytes(temporary, path) {
            close(fd)
            unlink(temporary)
            return false
        }
        var failure: Int32?
        if fsync(fd) != 0 { failure = errno }
        close(fd)
        if failure == nil && rename(temporary, path) != 0 { failure = errno }
        if let failure {
            unlink(temporary)
            throw AtomicFileError("cannot write \(path)", errno: failure)
        }
        return true
    }

    public func discard() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
        unlink(temporary)
    }

    /// Whether two files hold the same bytes, read a megabyte at a time.
    static func sameBytes(_ a: String, _ b: String) -> Bool {
        var infoA = stat(), infoB = stat()
        guard stat(a, &infoA) == 0, stat(b, &infoB) == 0, infoA.st_size == infoB.st_size else { return false }
        guard let fileA = fopen(a, "rb"), let fileB = fopen(b, "rb") else { return false }
        defer { fclose(fileA); fclose(fileB) }
        let size = 1 << 20
        let bufferA = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        let bufferB = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        defer { bufferA.deallocate(); bufferB.deallocate() }
        while true {
            let n = fread(bufferA, 1, size, fileA)
            guard fread(bufferB, 1, size, fileB) == n else { return false }
            if n == 0 { return true }
            if memcmp(bufferA, bufferB, n) != 0 { return false }
        }
    }
}
