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
        guard fd >= 0 else { throw AtomicFileError("cannot create \(temporary)", errno: errno) }
        var failure = writeAll(fd, data)
        if failure == nil && fsync(fd) != 0 { failure = errno }
        close(fd)
        if failure == nil && rename(temporary, path) != 0 { failure = errno }
        if let failure {
            unlink(temporary)
            throw AtomicFileError("cannot write \(path)", errno: failure)
        }
    }
}

extension AtomicFile {
    /// Writes every byte of `data` to `fd` (again after EINTR and short writes); the errno that
    /// stopped it, or nil.
    static func writeAll(_ fd: Int32, _ data: Data) -> Int32? {
        var failure: Int32?
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { failure = errno; return }
                offset += n
            }
        }
        return failure
    }
}

/// A file that could not be written: what was being done, and the errno that stopped it
/// (ENOSPC for a full disk, EACCES or EROFS for a refused one), so callers tell them apart.
public struct AtomicFileError: Error, CustomStringConvertible, Sendable {
    /// "cannot write <path>".
    public var context: String
    public var errno: Int32
    public init(_ context: String, errno: Int32) {
        self.context = context
        self.errno = errno
    }
    /// "disk full", "permission denied" or "io": for reports and metrics.
    public var kind: String { Self.kind(ofErrno: errno) ?? "io" }

    /// What a file operation's `errno` says of the disk: "disk full" (ENOSPC, EDQUOT),
    /// "permission denied" (EACCES, EPERM, EROFS), or nil for anything else. The one mapping
    /// imgcache's reports, failure kinds and the sync's halt read.
    public static func kind(ofErrno errno: Int32) -> String? {
        switch errno {
        case ENOSPC, EDQUOT: "disk full"
        case EACCES, EPERM, EROFS: "permission denied"
        default: nil
        }
    }
    /// "cannot write <path>: No space left on device".
    public var message: String { "\(context): \(String(cString: strerror(errno)))" }
    public var description: String { message }
}
