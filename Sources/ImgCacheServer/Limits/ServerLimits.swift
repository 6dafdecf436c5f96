import HTTPTypes
#if canImport(Glibc)
import Glibc
#endif

/// What one client, and all of them together, may hold of `imgcache serve`: connections,
/// HTTP/2 streams, responses streamed from files, and request-head bytes. Going over a bound
/// is answered (503 with Retry-After, a GOAWAY on HTTP/2, 431 for a head), never a crash, and
/// the next honest client is served.
public struct ServerLimits: Sendable, Equatable {
    /// Open connections in all, on every protocol (`maxConnections`). The server also raises
    /// its descriptor limit to the hard limit at start and keeps this below it (see `effective`).
    public var maxConnections = 4096
    /// Open connections from one client address; 0 for no such cap. Behind a proxy every
    /// connection comes from the proxy's address: name the header the proxy puts the client's
    /// address in (`clientAddressHeader`) and this caps each client's requests in progress instead.
    public var maxConnectionsPerClient = 512
    /// The request header a trusted reverse proxy writes the client's address to
    /// (`X-Forwarded-For`, `X-Real-IP`, `Forwarded`); nil when clients connect directly. Set only
    /// behind such a proxy: a direct client could write any address there.
    public var clientAddressHeader: String?
    /// The cap on one address's open connections: none behind a proxy (every connection is
    /// the proxy's; `ClientRequestGate` caps each client's requests instead).
    var connectionsPerAddress: Int { clientAddressHeader == nil ? maxConnectionsPerClient : 0 }
    /// Whether `name` can be a request header's name (for checking `clientAddressHeader`).
    public static func isHeaderName(_ name: String) -> Bool { HTTPField.Name(name) != nil }
    /// Streams one HTTP/2 connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
    public var maxStreamsPerConnection = 100
    /// Responses streamed from a file at once (files not yet answered on the hot path, ranges,
    /// and every file over 64 KB on HTTP/2). Each holds no descriptor while it waits for its
    /// client and at most two pieces (HTTP/1.1: `streamChunk`; HTTP/2: `http2Piece`, and only
    /// `senders` streams at once, `sendersPerConnection` of a connection); one more gets 503 with Retry-After.
    public var maxStreamingResponses = 1024
    /// A request head's longest header line, and the whole head, in bytes (over: 431).
    public var maxHeaderLineBytes = 8 * 1024
    public var maxHeadBytes = 32 * 1024

    /// The bytes one streamed response reads from its file at a time on HTTP/1.1 (the socket's
    /// own backpressure bounds what it holds).
    public static let streamChunk = 64 * 1024
    /// The same on HTTP/2, where every piece costs a read and two hops: larger, since only
    /// `senders` streams hold pieces at once.
    public static let http2Piece = 256 * 1024
    /// HTTP/2 streams of one connection, and of all, that send a file at once; the others wait
    /// their turn (`SendingTurns`). Pieces in memory: at most `senders` × 2 × `http2Piece`.
    public static let sendersPerConnection = 4
    public static let senders = 256

    public init() {}

    /// These limits with `maxConnections` kept `reserve` descriptors below `descriptorLimit`
    /// (files, the index, the listening socket), so accepting a connection never fails on EMFILE.
    public func effective(descriptorLimit: Int, reserve: Int = 128) -> ServerLimits {
        var limits = self
        limits.maxConnections = max(1, min(maxConnections, descriptorLimit - reserve))
        return limits
    }
}

/// The process's descriptor limit, raised to its hard limit first (as nginx's
/// worker_rlimit_nofile): the soft limit of a login shell (1024) is far below what a server
/// with thousands of connections needs.
public enum DescriptorLimit {
    @discardableResult
    public static func raise() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return current()
    }

    /// The soft limit now.
    public static func current() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return limit.rlim_cur >= rlim_t(Int32.max) ? Int(Int32.max) : Int(limit.rlim_cur)
    }
}
