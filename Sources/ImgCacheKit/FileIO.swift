import AtomicFiles
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import ImageCodecs

/// Small file helpers with errors that name the file.
enum FileIO {
    /// Reads a regular file, refusing one over `limit` bytes before reading it.
    static func read(_ path: String, limit: Int) throws(BatchFailure) -> Data {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw BatchFailure(input: path, reason: "cannot read: \(String(cString: strerror(errno)))", kind: "io")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw BatchFailure(input: path, reason: "not a regular file", kind: "io")
        }
        guard Int(info.st_size) <= limit else {
            throw BatchFailure(input: path, reason: "\(CodecError.Code.tooManyBytes): \(info.st_size) bytes, over the limit of \(limit)",
                               kind: CodecError.Code.tooManyBytes.description)
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw BatchFailure(input: path, reason: "cannot read: \(String(cString: strerror(errno)))", kind: "io")
        }
        defer { close(fd) }
        var data = Data(count: Int(info.st_size))
        var failure: String?
        let count = data.withUnsafeMutableBytes { raw -> Int in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.read(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { failure = String(cString: strerror(errno)); break }
                if n == 0 { break }  // the file shrank while we read it
                offset += n
            }
            return offset
        }
        if let failure { throw BatchFailure(input: path, reason: "cannot read: \(failure)", kind: "io") }
        if count < data.count { data.removeSubrange(count...) }
        return data
    }

    /// Writes atomically (temporary file, fsync, rename): readers see the old file or the new one.
    static func writeAtomically(_ data: Data, to path: String) throws(BatchFailure) {
        do {
            try AtomicFile.write(data, to: path)
        } catch {
            throw BatchFailure(input: path, reason: error.message, kind: error.kind)
        }
    }
}
