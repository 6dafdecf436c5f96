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

    /// Writes to a temporary name in the same directory, fsyncs, then renames: readers see
    /// the old file or the new one, never a partial one.
    static func writeAtomically(_ data: Data, to path: String) throws(BatchFailure) {
        let temporary = path + ".tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw BatchFailure(input: path, reason: "cannot create: \(String(cString: strerror(errno)))", kind: "io")
        }
        var failure: String?
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno))
                    return
                }
                offset += n
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if failure == nil && rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary)
            throw BatchFailure(input: path, reason: "cannot write: \(failure)", kind: "io")
        }
    }
}
