import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes a file so that readers see the old content or the new, never a partial file, and a
/// crash or kill leaves at most a stray temporary file: write to a temporary name, fsync,
/// rename over the destination.
public enum AtomicFile {
    /// Writes `data` to `path`. The temporary file is `temporaryPath` if given (it must be on the
    /// same file system), else a name next to `path` that carries this process's id.
    public static func write(_ data: Data, to path: String, temporaryPath: String? = nil,
                             mode: mode_t = 0o644) throws(AtomicFileError) {
        let temporary = temporaryPath ?? path + ".tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw AtomicFileError("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var failure: String?
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { failure = String(cString: strerror(errno)); return }
                offset += n
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if failure == nil && rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary)
            throw AtomicFileError("cannot write \(path): \(failure)")
        }
    }
}

public struct AtomicFileError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
