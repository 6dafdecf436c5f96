import Foundation

/// Limits and policy for downloads. Defaults are what a production image service wants.
public struct FetchConfiguration: Hashable, Sendable {
    /// Transfers in flight at once.
    public var maxConcurrent: Int = 16
    /// Connections to one host at once.
    public var maxPerHost: Int = 6
    /// Largest body accepted, counted as it arrives (not only from Content-Length).
    public var maxBodyBytes: Int = 50 * 1024 * 1024
    public var maxRedirects: Int = 5
    public var connectTimeout: TimeInterval = 10
    /// Abort a transfer slower than `lowSpeedBytesPerSecond` for `lowSpeedTime` seconds.
    public var lowSpeedBytesPerSecond: Int = 1024
    public var lowSpeedTime: TimeInterval = 20
    /// Hard limit for one transfer.
    public var totalTimeout: TimeInterval = 120
    /// Tries per URL for connection errors, timeouts, 429 and 5xx.
    public var maxAttempts: Int = 3
    /// First retry delay; doubles on each retry unless the server sends Retry-After.
    public var retryBaseDelay: TimeInterval = 0.5
    /// The longest Retry-After honoured.
    public var maxRetryAfter: TimeInterval = 30
    public var userAgent: String = "imgcache/0.1 (image cache; libcurl)"
    /// Which destination addresses are allowed (checked at connect time, redirects included).
    public var addressPolicy: AddressPolicy = AddressPolicy()
    /// Host names never fetched (exact, or a suffix after a dot: "example.com" covers "a.example.com").
    public var blockedHosts: [String] = []
    /// If not empty, only these hosts (same matching) are fetched.
    public var allowedHosts: [String] = []
    /// A proxy URL; environment proxy variables are ignored.
    public var proxy: String?

    public init() {}
}
