/// Why the cache could not be read or written. `cause` keeps the error underneath (a GRDB
/// `DatabaseError`, a POSIX error), so a caller can tell a busy index from a full disk.
public struct CacheError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public static let io = Code("cache i/o")
        public static let database = Code("cache index")
        /// Another sync holds the index's sync lease.
        public static let leaseHeld = Code("sync lease")
        public var description: String { name }
    }
    public var code: Code
    public var message: String
    /// The error this one was made from, if any.
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// An index error whose message is `context` and the cause's own text.
    static func database(_ context: String? = nil, _ cause: any Error) -> CacheError {
        if let error = cause as? CacheError { return error }
        let text = "\(cause)"
        return CacheError(.database, context.map { "\($0): \(text)" } ?? text, cause: cause)
    }

    /// `error` itself when it is a cache error, else a cache i/o error with its text (what a
    /// callback, a page reader's body, threw).
    public static func wrapping(_ error: any Error) -> CacheError {
        error as? CacheError ?? CacheError(.io, "\(error)", cause: error)
    }

    /// "cache i/o: …", "cache index: …", or what the errno underneath says: "disk full: …",
    /// "permission denied: …".
    public var description: String {
        let kind = FailureKind(self)
        return kind.isDiskRefusal ? "\(kind.rawValue): \(message)" : "\(code): \(message)"
    }
}
