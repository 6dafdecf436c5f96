import Foundation

/// Where a seed document names a URL: the file (relative to the seeds folder) and its line.
public struct SeedLocation: Sendable, Hashable {
    public var path: String
    public var line: Int?
    public init(path: String, line: Int?) {
        self.path = path
        self.line = line
    }
}

/// Failed URLs that share a reason (the error's kind: "cannot resolve host", "http status", ...).
public struct FailureGroup: Sendable, Hashable {
    public var kind: FailureKind
    public var count: Int
    public init(kind: FailureKind, count: Int) {
        self.kind = kind
        self.count = count
    }
}

/// One page of rows and how many there are in all.
public struct IndexPage<Row: Sendable>: Sendable {
    public var rows: [Row]
    public var total: Int
    public init(rows: [Row], total: Int) {
        self.rows = rows
        self.total = total
    }
}

/// The reads behind the server's dashboard: each a page (LIMIT/OFFSET over an indexed order),
/// so a cache of 100,000 images answers as fast as one of ten.
public protocol DashboardQueries: Sendable {
    /// Originals, newest first.
    func recentObjects(limit: Int, offset: Int) throws(CacheError) -> IndexPage<ObjectRecord>
    /// The thumbnails of several originals in one read.
    func thumbnails(digests: [String]) throws(CacheError) -> [ThumbnailRecord]
    /// The URLs whose original is `digest`.
    func sources(digest: String) throws(CacheError) -> [SourceRecord]
    /// Failed URLs grouped by the kind of their error (the text before its first colon), largest group first.
    func failureGroups(limit: Int) throws(CacheError) -> [FailureGroup]
    /// Failed URLs of one kind (nil: all), by URL.
    func failedSources(kind: FailureKind?, limit: Int, offset: Int) throws(CacheError) -> IndexPage<SourceRecord>
    /// URLs whose declared width/height has another aspect ratio than the decoded image (by
    /// more than 1 %): the page's reserved box and the image disagree, the layout shifts.
    /// Worst first.
    func sizeMismatches(limit: Int, offset: Int) throws(CacheError) -> IndexPage<SourceRecord>
    /// Where the seeds name each of `urls`.
    func seedLocations(urls: [String]) throws(CacheError) -> [String: [SeedLocation]]
}

/// The error kind a failure is grouped under: its reason up to the first colon.
public enum FailureReason {
    public static func kind(of error: String?) -> String {
        guard let error, !error.isEmpty else { return "unknown" }
        return String(error.prefix { $0 != ":" })
    }
}
