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

/// The outcome of a whole sync.
public struct SyncReport: Codable, Sendable {
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
    public var results: [ImageSyncResult] = []

    /// Every image cached and every seed file read.
    /// Why the run stopped before it was done (its index or store stopped answering), naming the backend.
    public var stopped: String?
    public var succeeded: Bool { stopped == nil && failed == 0 && seedProblems.isEmpty && indexProblems.isEmpty && cached == images }
}

/// Progress for the command line.
public struct SyncProgress: Sendable {
    public var finished: Int
    public var total: Int
    public var bytesDownloaded: Int
}
