#if canImport(Glibc)
import Glibc
#endif
import AtomicFiles
import Foundation
import GRDB

/// Why a URL's last attempt failed. Stored in its own index column (`sources.failure_kind`)
/// and read back as this enum, so the sync report, `status`, the dashboard's failures page and
/// the metrics all name a failure alike. The raw values are what people read.
public enum FailureKind: String, Sendable, Codable, CaseIterable {
    // The transfer (Fetching's kinds).
    case invalidURL = "invalid url", blockedAddress = "blocked address", blockedHost = "blocked host"
    case httpStatus = "http status", tooLarge = "too large", tooManyRedirects = "too many redirects"
    case timeout, connection = "connection failed", dns = "cannot resolve host", transfer = "transfer failed"
    // The bytes (ImageCodecs' codes).
    case unsupportedFormat = "unsupported format", unsupported, corrupt, truncated
    case tooManyPixels = "too many pixels", tooManyBytes = "too many bytes", outOfMemory = "out of memory"
    case limitExceeded = "limit exceeded", invalidArgument = "invalid argument"
    // The cache.
    case cacheIO = "cache i/o", cacheIndex = "cache index", diskFull = "disk full", permissionDenied = "permission denied"
    /// The original was pruned while this sync used it (the next sync fetches it again).
    case pruned = "pruned during sync"
    /// The sync stopped (a backend died) before this image was done.
    case stopped
    case other

    /// The kind a fetch error or a decoder's code names (their descriptions are these raw values).
    public init(named name: String) { self = FailureKind(rawValue: name) ?? .other }

    /// SQL giving the kind of an older failure row from its message's text before the first
    /// ':' (`prefix`), `other` when that is no kind: the v10 migration's backfill.
    static func backfill(prefix: String) -> String {
        let names = allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
        return "CASE WHEN \(prefix) IN (\(names)) THEN \(prefix) ELSE 'other' END"
    }

    /// A cache error's kind: a full disk and a refused permission told apart by the errno
    /// underneath, whatever the operation was.
    public init(_ error: CacheError) {
        if let disk = error.errno.flatMap(AtomicFileError.kind(ofErrno:)).flatMap(FailureKind.init(rawValue:)) {
            self = disk
        } else {
            self = error.code == .database ? .cacheIndex : .cacheIO
        }
    }

    /// A disk that refuses writes (full, read-only, not permitted): the backend cannot be used now.
    public var isDiskRefusal: Bool { self == .diskFull || self == .permissionDenied }
}

extension CacheError {
    /// The errno of the file operation underneath, if one failed (followed through causes).
    public var errno: Int32? {
        var cause: (any Error)? = self.cause
        while let error = cause {
            switch error {
            case let file as AtomicFileError: return file.errno
            case let posix as POSIXError: return posix.code.rawValue
            case let cocoa as CocoaError:
                if let underlying = cocoa.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
                    return Int32(underlying.code)
                }
                // Foundation's own codes for the errnos it maps (FileManager on Linux).
                switch cocoa.code {
                case .fileWriteOutOfSpace: return ENOSPC
                case .fileWriteVolumeReadOnly: return EROFS
                case .fileWriteNoPermission, .fileReadNoPermission: return EACCES
                default: return nil
                }
            case let cache as CacheError: cause = cache.cause
            // SQLite's own "database or disk is full" (the index's file could not grow).
            case let database as DatabaseError where database.resultCode == .SQLITE_FULL: return ENOSPC
            case let database as DatabaseError where database.resultCode == .SQLITE_READONLY: return EROFS
            default: return nil
            }
        }
        return nil
    }
}
