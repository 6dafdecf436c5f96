import Foundation

/// A seed file's reference to an image URL: one row per (seed, URL), with the first line that
/// names it and what the file declares for it (what an incremental sync needs of a file it does
/// not read again).
public struct SeedReference: Hashable, Sendable {
    public var seedPath: String
    public var url: String
    public var line: Int
    /// The first declared width and height the file gives the URL.
    public var width: Int?
    public var height: Int?
    /// The file's `isCached` for the URL when every entry of it there says the same; nil when
    /// one has no such key or two disagree (then write-back reads the file again).
    public var declaredCached: Bool?
    /// Every reference in the file is in its body (write-back never touches those).
    public var inBody = false
    /// The first focal point (`focus: [x, y]`) the file gives the URL, as fractions 0…1.
    public var focusX: Double?
    public var focusY: Double?

    /// `focusX` and `focusY` together, when the file gives a focal point.
    public var focus: (x: Double, y: Double)? { focusX.flatMap { x in focusY.map { (x, $0) } } }

    public init(seedPath: String, url: String, line: Int, width: Int? = nil, height: Int? = nil,
                declaredCached: Bool? = nil, inBody: Bool = false, focusX: Double? = nil, focusY: Double? = nil) {
        self.focusX = focusX
        self.focusY = focusY
        self.seedPath = seedPath
        self.url = url
        self.line = line
        self.width = width
        self.height = height
        self.declaredCached = declaredCached
        self.inBody = inBody
    }

    /// One reference per (seed, URL): the first line, the first declared size, the isCached all
    /// entries agree on, in body only if every entry is. Order kept (first appearance).
    public static func merged(_ references: [SeedReference]) -> [SeedReference] {
        var merged: [SeedReference] = []
        var position: [Pair: Int] = [:]
        for reference in references {
            let key = Pair(seedPath: reference.seedPath, url: reference.url)
            guard let at = position[key] else {
                position[key] = merged.count
                merged.append(reference)
                continue
            }
            if merged[at].width == nil { merged[at].width = reference.width }
            if merged[at].height == nil { merged[at].height = reference.height }
            if merged[at].focusX == nil { (merged[at].focusX, merged[at].focusY) = (reference.focusX, reference.focusY) }
            if merged[at].declaredCached != reference.declaredCached { merged[at].declaredCached = nil }
            merged[at].inBody = merged[at].inBody && reference.inBody
        }
        return merged
    }

    /// By seed path (bytes, as the databases order them), then line: the order a full read meets them.
    public static func inSeedOrder(_ a: SeedReference, _ b: SeedReference) -> Bool {
        a.seedPath == b.seedPath ? a.line < b.line : IndexOrder.precedes(a.seedPath, b.seedPath)
    }

    private struct Pair: Hashable {
        var seedPath: String
        var url: String
    }
}

/// What the index remembers of one seed file, so that an unchanged file is not read again.
public struct SeedFileRecord: Hashable, Sendable {
    public var path: String
    public var size: Int
    /// Modification time, nanoseconds since 1970.
    public var modifiedNanoseconds: Int64
    /// SHA-256 of the bytes read (hex); empty when the file must be read every time (a URL with
    /// credentials, which the index never stores).
    public var sha256: String
    /// The reader and settings that made the references (a change reads every file again).
    public var parser: String
    /// True when the file parsed as a seed document; false when it was skipped whole.
    public var isSeed: Bool
    /// What the report says of the file each sync: its skip reason, or its skipped entries.
    public var problems: [String]
    /// When it was read (nanoseconds since 1970): a file modified within the same clock tick may
    /// have changed after it was read, so one whose time is that close is read again.
    public var recordedNanoseconds: Int64

    public init(path: String, size: Int, modifiedNanoseconds: Int64, sha256: String, parser: String, isSeed: Bool,
                problems: [String], recordedNanoseconds: Int64) {
        self.path = path
        self.size = size
        self.modifiedNanoseconds = modifiedNanoseconds
        self.sha256 = sha256
        self.parser = parser
        self.isSeed = isSeed
        self.problems = problems
        self.recordedNanoseconds = recordedNanoseconds
    }

    /// The problems as stored (a JSON array; nil for none).
    public var problemsText: String? {
        guard !problems.isEmpty, let data = try? JSONEncoder().encode(problems) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    static func problems(from text: String?) -> [String] {
        guard let text, let lines = try? JSONDecoder().decode([String].self, from: Data(text.utf8)) else { return [] }
        return lines
    }
}

/// A batch of an incremental sync's changes to the seed files the index remembers (one transaction).
public struct SeedFilesUpdate: Sendable {
    /// Files read now: their rows and references replace what was recorded.
    public var read: [SeedFileRecord] = []
    public var references: [SeedReference] = []
    /// Files whose time changed but whose bytes did not: the new time only.
    public var touched: [SeedFileRecord] = []
    /// Files that are gone: their rows and references go.
    public var removed: [String] = []
    /// Every file was read (`sync --full`): everything recorded before is replaced.
    public var replacesAll = false

    public init() {}

    /// A referenced URL's `referenced_at` is stamped again once it is this old (seconds): every
    /// sync keeps prune's "referenced by a sync" at most ten minutes behind without rewriting
    /// every row each time.
    public static let restampAfter: TimeInterval = 600

    /// Whether references change (else only times are written).
    public var changesReferences: Bool { !read.isEmpty || !removed.isEmpty || replacesAll }
    public var changesAnything: Bool { changesReferences || !touched.isEmpty }
}

/// The incremental sync's reads and writes: seed files and the set queries that say which
/// images have work to do.
public protocol SeedFileStorage {
    /// What the index remembers of the files of `paths` (those it has), by path.
    func seedFiles(paths: [String]) throws(CacheError) -> [String: SeedFileRecord]
    /// The paths of the seed files the index remembers after `after`, in byte order, at most `limit`.
    func seedFilePaths(after: String?, limit: Int) throws(CacheError) -> [String]
    /// Applies `update` (one batch of files) in one transaction.
    func recordSeedFiles(_ update: SeedFilesUpdate) throws(CacheError)
    /// Ends a sync's seeds step: every referenced URL's `referenced_at` is stamped with `date`
    /// (those stamped within `restampAfter` keep theirs); with `droppingUnknown`, references of
    /// files the index does not remember go.
    func finishSeedFiles(at date: Date, droppingUnknown: Bool) throws(CacheError)
    /// Distinct referenced URLs after `after` (in byte order), at most `limit`, that have work to
    /// do at `now`: no source row, not ok, not cached, an error, expired, no placeholder. With
    /// `all`, every referenced URL.
    func dueURLs(now: Date, all: Bool, after: String?, limit: Int) throws(CacheError) -> [String]
    /// The references of `urls`, ordered by seed path, then line. With `perURL`: of each URL
    /// only the first `perURL` in that order, and, for a URL with more, the first that declares
    /// a width and the first that declares a height when those are not among them (what a
    /// sync's catalog needs of a logo named by 60,000 articles).
    func seedReferences(urls: [String], perURL: Int?) throws(CacheError) -> [SeedReference]
    /// Sources of `urls` that have a row.
    func sources(urls: [String]) throws(CacheError) -> [String: SourceRecord]
    /// Seed paths where a front-matter reference's declared isCached is missing, mixed, or other
    /// than the index's: the files a write-back must read.
    func seedPathsToWriteBack() throws(CacheError) -> [String]
    /// How many distinct URLs the seeds reference.
    func referencedURLCount() throws(CacheError) -> Int
    /// The renditions the last finished sync made for every cached URL (a fingerprint), and
    /// recording it: while it matches, a cached URL needs no look at its thumbnails.
    func syncedRenditions() throws(CacheError) -> String?
    func recordSyncFinished(at date: Date, renditions: String) throws(CacheError)
}

extension SeedFileStorage {
    /// Every reference of `urls`, ordered by seed path, then line.
    public func seedReferences(urls: [String]) throws(CacheError) -> [SeedReference] {
        try seedReferences(urls: urls, perURL: nil)
    }
}

extension SeedReference {
    /// For each URL of `read` cut at `perURL` with no declared width (or height) among its
    /// places, the first place that declares one, as `first(url, column)` finds it: the one
    /// loop both backends use, each with its own query.
    public static func declaringBeyond(_ read: [SeedReference], perURL: Int,
                                       first: (_ url: String, _ column: String) throws -> SeedReference?) rethrows -> [SeedReference] {
        var found: [SeedReference] = []
        for (url, places) in Dictionary(grouping: read, by: \.url) where places.count >= perURL {
            for (column, size) in [("width", \SeedReference.width), ("height", \SeedReference.height)]
            where !places.contains(where: { $0[keyPath: size] != nil }) {
                if let place = try first(url, column) { found.append(place) }
            }
        }
        return found
    }
}

extension Array {
    /// Consecutive slices of at most `size` elements: work on many rows a batch at a time.
    public func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
