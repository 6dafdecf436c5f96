import Foundation

/// The cache's index, whatever keeps it: SQLite in the cache folder (`CacheIndex`, the
/// default) or a PostgreSQL database several machines share (`PostgresIndex`).
/// Every write is one named transaction that keeps the invariants sync, prune, verify and the
/// server rely on (held by the conformance suite in the tests):
/// - no row names a blob that is not stored: writers restore blobs under the removal lock
///   (shared) inside their transaction; removers delete rows under it (exclusive), then blobs;
/// - an image is removed whole: original, thumbnails, access time, its URLs' digest;
/// - a failure never loses a cached copy; a URL's isCached is what its writer checked;
/// - every write but the access ledger's and a sync's reference stamps moves `generation()`.
public protocol IndexStorage: DashboardQueries, SeedFileStorage, OnDemandStorage, IndexPaging {
    // MARK: Sync
    func recordFetched(_ image: FetchedImage, ensureFiles: () throws -> Void,
                       isCached: () -> Bool) throws(CacheError) -> (duplicate: Bool, isCached: Bool)
    func recordRevalidated(_ update: Revalidation, ensureFiles: () throws -> Void) throws(CacheError)
    func recordFailure(_ failure: SourceFailure, at date: Date,
                       isCached: (String, [ThumbnailRecord]) -> Bool) throws(CacheError) -> (isCached: Bool, digest: String?)
    func recordFailures(_ failures: [SourceFailure], at date: Date) throws(CacheError)
    /// Takes the index's sync lease for `holder` (one sync at a time per index; see
    /// `SyncLeaseHolder`). Taken: throws `.leaseHeld` naming the holder, or with `wait` calls
    /// `waiting` with the holder and blocks until the lease is free.
    func acquireSyncLease(_ holder: SyncLeaseHolder, wait: Bool, waiting: (SyncLeaseHolder?) -> Void) throws(CacheError) -> any SyncLease
    func syncLeaseHolder() throws(CacheError) -> SyncLeaseHolder?

    // MARK: Prune and repair
    func pruneInventory(referencedURLs: ReferencedURLs?, staleBefore: Date) throws(CacheError) -> PruneInventory
    /// A prune's candidates in a read transaction (a dry run).
    func planPrune<T>(referencedURLs: ReferencedURLs?, staleBefore: Date, _ plan: (PruneCandidates) throws -> T) throws(CacheError) -> T
    func prune(at now: Date, referencedURLs: ReferencedURLs?, staleBefore: Date,
               decide: (PruneCandidates) throws -> PruneDecision,
               removeFiles: ([BlobKey]) -> Int) throws(CacheError) -> PruneRemoval
    func replaceThumbnail(_ updated: ThumbnailRecord, writeFile: () throws -> Void) throws(CacheError) -> Bool
    func removeDamaged(originals: [String], thumbnails: [ThumbnailRecord], orphans: [BlobKey],
                       reason: String, removeFiles: ([BlobKey]) -> Int) throws(CacheError) -> [String]
    /// What is wrong with the index's own storage (empty when sound), at most `limit` lines.
    func integrityProblems(limit: Int) -> [String]
    /// After a prune removed rows: refreshes the statistics the query planner chooses indexes by
    /// (SQLite's `PRAGMA optimize`, PostgreSQL's `ANALYZE` of the tables a prune changes), so
    /// the page queries keep their indexes as the tables shrink and grow. Best effort.
    func refreshPlannerStatistics()

    // MARK: Serving
    func recordAccess(_ served: [String: Date], hits: Int, misses: Int) throws(CacheError)
    func lastPrune() throws(CacheError) -> Date?
    func generation() throws(CacheError) -> Int
    func checkReadable() throws(CacheError)
    /// An element each time a write commits, in any process ("prune" for removals), for an
    /// index that can announce them; nil for one that cannot (readers poll `lastPrune`).
    func changes() -> AsyncStream<String>?

    // MARK: Reads
    func source(_ url: String) throws(CacheError) -> SourceRecord?
    func object(_ digest: String) throws(CacheError) -> ObjectRecord?
    func thumbnail(key: String) throws(CacheError) -> ThumbnailRecord?
    func thumbnails(digest: String) throws(CacheError) -> [ThumbnailRecord]
    func thumbnails(url: String, keys: (String) -> [String]) throws(CacheError) -> [ThumbnailRecord]
    func allSources() throws(CacheError) -> [String: SourceRecord]
    func allThumbnails() throws(CacheError) -> [ThumbnailRecord]
    func storedFiles() throws(CacheError) -> (objects: [(digest: String, bytes: Int)], thumbnails: [ThumbnailRecord])
    func contents() throws(CacheError) -> IndexContents
    func statistics(largest limit: Int) throws(CacheError) -> IndexStatistics
    func totals() throws(CacheError) -> IndexTotals
    /// Bytes the index takes in its own storage.
    var storageBytes: Int { get }
}

extension CacheIndex: IndexStorage {
    /// SQLite has no notifications across processes: readers poll.
    public func changes() -> AsyncStream<String>? { nil }
}

extension IndexStorage {
    /// Replaces every seed reference with `references` and stamps the referenced URLs, as a
    /// full sync's seeds step does (files are not remembered: the next sync reads every file).
    public func replaceSeedReferences(_ references: [SeedReference], at date: Date = Date()) throws(CacheError) {
        var update = SeedFilesUpdate()
        update.replacesAll = true
        update.references = references
        try recordSeedFiles(update)
        try finishSeedFiles(at: date, droppingUnknown: false)
    }
    public func recordFailures(_ failures: [SourceFailure]) throws(CacheError) { try recordFailures(failures, at: Date()) }
    public func recordFailure(_ failure: SourceFailure,
                              isCached: (String, [ThumbnailRecord]) -> Bool) throws(CacheError) -> (isCached: Bool, digest: String?) {
        try recordFailure(failure, at: Date(), isCached: isCached)
    }
    public func integrityProblems() -> [String] { integrityProblems(limit: 20) }
}
