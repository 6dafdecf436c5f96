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

/// Where the seeds name one URL: the first `DashboardSearch.seedsPerURL` places in path order,
/// and how many there are (a logo every article shows has one per article).
public struct SeedLocations: Sendable, Hashable {
    public var first: [SeedLocation]
    public var total: Int
    public init(first: [SeedLocation], total: Int) {
        self.first = first
        self.total = total
    }
}

/// The dashboard's search: URLs that contain a text, that a seed (a file, or a folder's files)
/// names, that failed, whose declared size has another shape than the image; any together.
public struct SourceSearch: Sendable, Hashable {
    /// A part of the URL, at least `minimumText` characters (matched without regard to ASCII case).
    public var text: String?
    /// A seed file's path (relative to the seeds folder) or a folder's, with or without its `/`.
    public var seedPath: String?
    public var failed: Bool
    public var mismatched: Bool
    /// A trigram index answers a text of three characters or more; a shorter one would match
    /// nearly every URL of a large cache.
    public static let minimumText = 3
    /// Matches are counted up to this many ("10,000 or more").
    public static let countLimit = 10_000

    public init(text: String? = nil, seedPath: String? = nil, failed: Bool = false, mismatched: Bool = false) {
        self.text = text
        self.seedPath = seedPath
        self.failed = failed
        self.mismatched = mismatched
    }

    public var isEmpty: Bool { text == nil && seedPath == nil && !failed && !mismatched }

    /// The seed paths `seedPath` covers: itself, and the files under it when it is a folder.
    var seedRange: (exact: String, from: String, to: String)? {
        guard let path = seedPath else { return nil }
        let range = SeedScope.range(ofSection: path)
        return (String(range.from.dropLast()), range.from, range.to)
    }
}

/// One page of a search: its rows, the cursor of the next page (nil on the last), and how many
/// match in all, counted up to `SourceSearch.countLimit`.
public struct SearchPage: Sendable {
    public var rows: [SourceRecord]
    public var next: String?
    public var count: Int
    public var countIsLowerBound: Bool { count >= SourceSearch.countLimit }
    public init(rows: [SourceRecord], next: String?, count: Int) {
        self.rows = rows
        self.next = next
        self.count = count
    }
}

/// Which originals the images page lists: of one format, animated ones, or all.
public struct ObjectFilter: Sendable, Hashable {
    public var format: String?
    public var animated: Bool
    public init(format: String? = nil, animated: Bool = false) {
        self.format = format
        self.animated = animated
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
    /// Originals, newest first (of one format, or animated, when `filter` says so).
    func recentObjects(_ filter: ObjectFilter, limit: Int, offset: Int) throws(CacheError) -> IndexPage<ObjectRecord>
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
    /// Where the seeds name each of `urls`: the first `perURL` places of each, and their count.
    func seedLocations(urls: [String], perURL: Int) throws(CacheError) -> [String: SeedLocations]
    /// A page of the URLs `search` finds, after the cursor of the page before (nil: the first),
    /// each page and the count answered from indexes (`dashboardPlans` shows which).
    func search(_ search: SourceSearch, after: String?, limit: Int) throws(CacheError) -> SearchPage
    /// The database's plan of each search and filter statement, by name.
    func dashboardPlans() throws(CacheError) -> [String: String]
}

/// The error kind a failure is grouped under: its reason up to the first colon.
public enum FailureReason {
    public static func kind(of error: String?) -> String {
        guard let error, !error.isEmpty else { return "unknown" }
        return String(error.prefix { $0 != ":" })
    }
}
