import Foundation

/// One URL to fetch, with the validators of the copy we already have (if any).
public struct FetchRequest: Hashable, Sendable {
    public var url: String
    public var etag: String?
    public var lastModified: String?

    public init(url: String, etag: String? = nil, lastModified: String? = nil) {
        self.url = url
        self.etag = etag
        self.lastModified = lastModified
    }
}

/// A finished HTTP exchange.
public struct FetchResponse: Sendable {
    /// 200 with a body, or 304 with none.
    public var status: Int
    public var body: Data
    /// Response headers, names lower-cased (the final response after redirects).
    public var headers: [String: String]
    public var effectiveURL: String
    /// How many tries it took (1 when the first succeeded).
    public var attempts: Int

    public init(status: Int, body: Data, headers: [String: String], effectiveURL: String, attempts: Int) {
        self.status = status
        self.body = body
        self.headers = headers
        self.effectiveURL = effectiveURL
        self.attempts = attempts
    }

    public var etag: String? { headers["etag"] }
    public var lastModified: String? { headers["last-modified"] }

    /// Seconds this response may be reused without asking again: Cache-Control max-age
    /// (0 for no-cache/no-store), else Expires relative to Date or now, else nil.
    public func freshnessLifetime(now: Date = Date()) -> TimeInterval? {
        if let control = headers["cache-control"]?.lowercased() {
            let directives = control.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            if directives.contains("no-store") || directives.contains("no-cache") { return 0 }
            for directive in directives where directive.hasPrefix("max-age=") {
                if let seconds = TimeInterval(directive.dropFirst("max-age=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))) {
                    return max(0, seconds)
                }
            }
        }
        if let expires = headers["expires"].flatMap(HTTPDate.parse) {
            let reference = headers["date"].flatMap(HTTPDate.parse) ?? now
            return max(0, expires.timeIntervalSince(reference))
        }
        return nil
    }
}

/// Why a fetch failed.
public struct FetchError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public static let invalidURL = Kind("invalid url")
        public static let blockedAddress = Kind("blocked address")
        public static let blockedHost = Kind("blocked host")
        public static let httpStatus = Kind("http status")
        public static let tooLarge = Kind("too large")
        public static let tooManyRedirects = Kind("too many redirects")
        public static let timeout = Kind("timeout")
        public static let connection = Kind("connection failed")
        public static let dns = Kind("cannot resolve host")
        public static let other = Kind("transfer failed")
        /// Not fetched: the caller stopped the run.
        public static let stopped = Kind("stopped")
        public var description: String { name }
    }

    public var kind: Kind
    public var message: String
    /// The HTTP status, for `.httpStatus`.
    public var status: Int?
    /// Whether another try might succeed (connection errors, timeouts, 429, 5xx).
    public var retryable: Bool
    public var attempts: Int

    public init(_ kind: Kind, _ message: String, status: Int? = nil, retryable: Bool = false, attempts: Int = 1) {
        self.kind = kind
        self.message = message
        self.status = status
        self.retryable = retryable
        self.attempts = attempts
    }

    public var description: String { "\(kind): \(message)" + (attempts > 1 ? " (after \(attempts) tries)" : "") }
}

/// The result of one request.
public enum FetchOutcome: Sendable {
    case fetched(FetchResponse)
    case notModified(FetchResponse)
    case failed(FetchError)
}

/// Fetches many URLs; `onOutcome` is called once per request (index into `requests`) as each
/// finishes, on the fetcher's thread. Once `stopping` says so, no request is started or retried
/// any more, and those not finished end as `.stopped` failures (a sync whose index or store
/// stopped answering). A seam for tests: the real implementation is `CurlFetcher`.
public protocol ImageFetching: Sendable {
    func fetchAll(_ requests: [FetchRequest], stopping: () -> Bool, onOutcome: (Int, FetchOutcome) -> Void)
}

extension ImageFetching {
    public func fetchAll(_ requests: [FetchRequest], onOutcome: (Int, FetchOutcome) -> Void) {
        fetchAll(requests, stopping: { false }, onOutcome: onOutcome)
    }
}

/// RFC 9110 dates (IMF-fixdate, and the two obsolete forms).
enum HTTPDate {
    static func parse(_ text: String) -> Date? {
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = format
            if let date = formatter.date(from: text.trimmingCharacters(in: .whitespaces)) { return date }
        }
        return nil
    }
}
