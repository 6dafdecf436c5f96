import CacheStore
import Foundation

/// What a sync did to one image URL.
public struct ImageSyncResult: Codable, Sendable {
    public enum Action: String, Codable, Sendable {
        /// Downloaded (200).
        case fetched
        /// Revalidated: the origin answered 304, no body.
        case notModified = "not-modified"
        /// Still fresh: no request made.
        case fresh
        case failed
    }
    public var url: String
    public var action: Action
    public var isCached: Bool
    public var digest: String?
    public var error: String?
    /// What kind of failure ("http status", "unsupported format", "disk full"...): the kind the index records.
    public var errorKind: FailureKind?
    public var dimensionMismatch: String?
    public var thumbnailsMade: Int
}

/// The outcome of a whole sync. Its figures are in memory; its one result per image is spooled
/// to a temporary file as each window of images ends, in URL order, and read back by
/// `forEachResult`: a sync of a million images holds one window's results, not the million.
public struct SyncReport: Encodable, Sendable {
    /// Seed documents in the folder; of the folder's files, how many were read now (new or
    /// changed) and how many are gone since the last sync.
    public var seedsRead = 0
    public var seedsChanged = 0
    public var seedsRemoved = 0
    public var seedProblems: [String] = []
    public var images = 0
    public var fetched = 0
    public var notModified = 0
    public var fresh = 0
    public var failed = 0
    public var failuresByKind: [String: Int] = [:]
    public var thumbnailsMade = 0
    public var bytesDownloaded = 0
    public var bytesStored = 0
    /// Downloads whose bytes were already stored for another URL.
    public var duplicates = 0
    public var dimensionMismatches = 0
    public var cached = 0
    public var seedFilesRewritten = 0
    /// What could not be recorded in the index (a full disk, say): the run failed, the report stands.
    public var indexProblems: [String] = []
    public var seconds = 0.0

    /// Why the run stopped before it was done (its index or store stopped answering), naming the backend.
    public var stopped: String?
    /// Every image cached and every seed file read.
    public var succeeded: Bool { stopped == nil && failed == 0 && seedProblems.isEmpty && indexProblems.isEmpty && cached == images }

    private let resultsLog: SpoolFile<ImageSyncResult>
    /// Images the windows worked on (the rest of `images` were cached, fresh and complete).
    private var worked = 0

    enum CodingKeys: String, CodingKey {
        case seedsRead, seedsChanged, seedsRemoved, seedProblems, images, fetched, notModified, fresh, failed, failuresByKind
        case thumbnailsMade, bytesDownloaded, bytesStored, duplicates, dimensionMismatches, cached, seedFilesRewritten
        case indexProblems, seconds, stopped
    }

    init() throws(CacheError) { resultsLog = try SpoolFile() }

    /// How many results the windows so far gave.
    var resultCount: Int { worked }
    var hasResults: Bool { worked > 0 }

    /// Each image's result, by URL, read back from the report's spool.
    public func forEachResult(_ body: (ImageSyncResult) throws -> Void) throws { try resultsLog.forEach(body) }

    /// Every result at once: for a small report (a test); a command that prints a large one
    /// walks `forEachResult`.
    public var results: [ImageSyncResult] {
        var all: [ImageSyncResult] = []
        try? forEachResult { all.append($0) }
        return all
    }

    /// Counts and spools one window's results (sorted by the URLs' bytes, the order the windows
    /// come in).
    mutating func add(_ results: [ImageSyncResult]) throws(CacheError) {
        for result in results.sorted(by: { IndexOrder.precedes($0.url, $1.url) }) {
            try resultsLog.append(result)
            worked += 1
            switch result.action {
            case .fetched: fetched += 1
            case .notModified: notModified += 1
            case .fresh: fresh += 1
            case .failed:
                failed += 1
                failuresByKind[(result.errorKind ?? .other).rawValue, default: 0] += 1
            }
            thumbnailsMade += result.thumbnailsMade
            if result.isCached { cached += 1 }
            if result.dimensionMismatch != nil { dimensionMismatches += 1 }
        }
    }

    /// After the last window: the images the seeds reference in all (`referenced`); those no
    /// window needed (cached, fresh and complete) count as fresh and cached.
    mutating func finish(referenced: Int) {
        images = max(referenced, worked)
        fresh += images - worked
        cached += images - worked
    }
}

/// Progress for the command line.
public struct SyncProgress: Sendable {
    public var finished: Int
    public var total: Int
    public var bytesDownloaded: Int
}
