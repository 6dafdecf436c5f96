import Foundation
import GRDB

/// One cached image as prune sees it: an original and all of its thumbnails, removed together.
///
/// The unit of eviction is the whole image. Thumbnails alone are a small share of the bytes
/// (three variants are ~10% of a typical original), an image without its thumbnails cannot be
/// served, and one without its original cannot make a new variant: either half alone leaves
/// an image that is not cached (isCached false) while still costing space. Whole images keep
/// isCached exact and make one sync restore exactly what one prune removed.
public struct PruneImage: Hashable, Sendable {
    public var digest: String
    /// Original plus thumbnails.
    public var bytes: Int
    /// When the original or one of its thumbnails was last written.
    public var lastWritten: Date
    /// When a sync last found one of its URLs in a seed document.
    public var lastReferenced: Date?
    /// When the server last served it (the access ledger).
    public var lastServed: Date?
    /// Whether a seed under `--unreferenced SEEDS_DIR` still names one of its URLs
    /// (true when that is not being checked).
    public var isReferenced: Bool
    /// Its thumbnail rows, and of those the variants made on request (`OnDemandVariant`).
    public var thumbnails = 0
    public var onDemandVariants = 0

    public init(digest: String, bytes: Int, lastWritten: Date, lastReferenced: Date? = nil, lastServed: Date? = nil,
                isReferenced: Bool = true) {
        self.digest = digest
        self.bytes = bytes
        self.lastWritten = lastWritten
        self.lastReferenced = lastReferenced
        self.lastServed = lastServed
        self.isReferenced = isReferenced
    }

    /// The last time anything wrote, referenced or served it.
    public var lastUsed: Date {
        max(lastWritten, lastReferenced ?? .distantPast, lastServed ?? .distantPast)
    }
}

/// Everything a prune plan needs, from four sequential scans (one per table, dates as Julian
/// days): on 100,000 images that is several times faster than one query joining aggregates,
/// which reads the thumbnails in index order, one random page at a time.
/// One entry per image and no URL lists (the URLs of the images a prune removes are read after
/// the decision, `PruneRemoval.urls`): what a prune holds grows by one small record per image.
public struct PruneInventory: Sendable {
    public var images: [PruneImage] = []
    /// URLs no seed references (not in the `referencedURLs` given) and not used since the cutoff.
    public var staleURLs: Set<String> = []
}

/// What a prune decides from, inside its transaction: every image in least-recently-used
/// order (ties by digest), walked as often as the plan needs, each walk one ordered query read
/// row by row (the database sorts, on disk if it must): a prune holds its removals, never the
/// cache's images. `staleURLs`: with `referencedURLs`, the URLs no seed references and not used
/// since the cutoff.
public struct PruneCandidates {
    public let walk: ((PruneImage) throws -> Void) throws -> Void
    public let staleURLs: Set<String>
    /// The number of images and their bytes (originals and thumbnails), from aggregates.
    public let totals: (images: Int, bytes: Int)
    /// The URLs cached as each of up to 500 digests (sorted), read in the same transaction:
    /// what the report names for the images the plan removes, a batch at a time as it decides.
    public let urls: ([String]) throws -> [String: [String]]

    public static let urlBatch = 500
}

/// What a prune decided, inside its transaction.
public struct PruneDecision: Sendable {
    /// Whole images to remove: originals, thumbnails, access times.
    public var digests: [String]
    /// URL rows to forget (no seed names them any more).
    public var forgetURLs: Set<String>
    public var bytesReclaimed: Int
    public init(digests: [String], forgetURLs: Set<String>, bytesReclaimed: Int) {
        self.digests = digests
        self.forgetURLs = forgetURLs
        self.bytesReclaimed = bytesReclaimed
    }
}

/// What a prune removed.
public struct PruneRemoval: Sendable {
    public var thumbnailsRemoved = 0
    public var filesRemoved = 0
}

extension CacheIndex {
    /// The inventory a plan is made from, in a read transaction (a dry run). `referencedURLs`
    /// marks images whose URLs a seed still names; URLs outside it, not referenced or updated
    /// since `staleBefore`, are listed as stale.
    public func pruneInventory(referencedURLs: ReferencedURLs?, staleBefore: Date) throws(CacheError) -> PruneInventory {
        try read { db in try Self.loadInventory(db, referencedURLs: referencedURLs, staleBefore: staleBefore) }
    }

    /// The URLs cached as each of `digests` (at most `PruneCandidates.urlBatch`), sorted.
    static func urls(_ db: Database, ofDigests digests: [String]) throws -> [String: [String]] {
        var urls: [String: [String]] = [:]
        guard !digests.isEmpty else { return urls }
        let rows = try Row.fetchCursor(db, sql: "SELECT digest, url FROM sources WHERE digest IN (\(databaseQuestionMarks(count: digests.count))) ORDER BY url",
                                       arguments: StatementArguments(digests))
        while let row = try rows.next() { urls[row[0], default: []].append(row[1]) }
        return urls
    }

    /// The candidates of a prune in a read transaction (a dry run): what `plan` returns.
    public func planPrune<T>(referencedURLs: ReferencedURLs?, staleBefore: Date,
                             _ plan: (PruneCandidates) throws -> T) throws(CacheError) -> T {
        try read { db in try plan(Self.candidates(db, referencedURLs: referencedURLs, staleBefore: staleBefore)) }
    }

    /// Prune in one write transaction: walks the candidates, asks `decide` what goes, forgets
    /// those URLs, deletes those images' rows and stamps the prune; after the commit, with the
    /// removal lock still held exclusively, `removeFiles` deletes their files (see `RemovalLock`).
    public func prune(at now: Date, referencedURLs: ReferencedURLs?, staleBefore: Date,
                      decide: (PruneCandidates) throws -> PruneDecision,
                      removeFiles: ([BlobKey]) -> Int) throws(CacheError) -> PruneRemoval {
        var removal = PruneRemoval()
        removal.filesRemoved = try removingFiles(removeFiles) { db in
            let decision = try decide(Self.candidates(db, referencedURLs: referencedURLs, staleBefore: staleBefore))
            // URLs no seed names lose their rows first, so the images' update touches only the rest.
            let statement = try db.makeStatement(sql: "DELETE FROM sources WHERE url = ?")
            for url in decision.forgetURLs.sorted() { try statement.execute(arguments: [url]) }
            let keys = try Self.deleteImages(db, digests: decision.digests, status: .pruned, lastError: nil)
            removal.thumbnailsRemoved = keys.count - decision.digests.count
            try Self.setMeta(db, MetaKey.lastPrune, now)
            try Self.setMeta(db, MetaKey.lastPruneBytes, decision.bytesReclaimed)
            return keys
        }
        return removal
    }

    /// Each image with its size (original and thumbnails), its last write, reference and
    /// access, its URLs (one row: for `referencedURLs`) and its thumbnails' variants, least
    /// recently used first. Dates are compared as SQLite stores them (ISO text, UTC).
    static let candidatesSQL = """
        WITH t AS (SELECT digest, SUM(bytes) AS bytes, MAX(created_at) AS written, group_concat(variant, char(10)) AS variants
                   FROM thumbnails GROUP BY digest),
             s AS (SELECT digest, MAX(MAX(updated_at, COALESCE(referenced_at, updated_at))) AS used,
                          group_concat(url, char(10)) AS urls
                   FROM sources WHERE digest IS NOT NULL GROUP BY digest)
        SELECT o.digest, o.bytes + COALESCE(t.bytes, 0), julianday(MAX(o.created_at, COALESCE(t.written, o.created_at))),
               julianday(s.used), julianday(a.last_access), s.urls, t.variants
        FROM objects o LEFT JOIN t ON t.digest = o.digest LEFT JOIN s ON s.digest = o.digest
                       LEFT JOIN access a ON a.digest = o.digest
        ORDER BY MAX(MAX(o.created_at, COALESCE(t.written, o.created_at)), COALESCE(s.used, ''), COALESCE(a.last_access, '')), o.digest
        """

    static func candidates(_ db: Database, referencedURLs: ReferencedURLs?, staleBefore: Date) throws -> PruneCandidates {
        func date(_ julianDay: Double) -> Date { Date(timeIntervalSince1970: (julianDay - 2_440_587.5) * 86_400) }
        var stale = Set<String>()
        if let referencedURLs {
            let cursor = try String.fetchCursor(db, sql: """
                SELECT url FROM sources WHERE MAX(updated_at, COALESCE(referenced_at, updated_at)) < ?
                """, arguments: [staleBefore])
            while let url = try cursor.next() {
                if !referencedURLs.contains(url) { stale.insert(url) }
            }
        }
        let images = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM objects") ?? 0
        let bytes = try Int.fetchOne(db, sql: """
            SELECT (SELECT COALESCE(SUM(bytes), 0) FROM objects) + (SELECT COALESCE(SUM(bytes), 0) FROM thumbnails)
            """) ?? 0
        return PruneCandidates(walk: { body in
            let rows = try Row.fetchCursor(db, sql: candidatesSQL)
            while let row = try rows.next() {
                let urls = (row[5] as String?)?.split(separator: "\n") ?? []
                let variants = (row[6] as String?)?.split(separator: "\n") ?? []
                var image = PruneImage(digest: row[0], bytes: row[1], lastWritten: date(row[2]),
                                       lastReferenced: (row[3] as Double?).map(date), lastServed: (row[4] as Double?).map(date),
                                       isReferenced: referencedURLs.map { set in urls.contains { set.contains(String($0)) } } ?? true)
                image.thumbnails = variants.count
                image.onDemandVariants = variants.filter { OnDemandVariant.isOnDemand(String($0)) }.count
                try body(image)
            }
        }, staleURLs: stale, totals: (images, bytes), urls: { digests in try urls(db, ofDigests: digests) })
    }

    static func loadInventory(_ db: Database, referencedURLs: ReferencedURLs?, staleBefore: Date) throws -> PruneInventory {
        func date(_ julianDay: Double) -> Date { Date(timeIntervalSince1970: (julianDay - 2_440_587.5) * 86_400) }
        var builder = InventoryBuilder(referencing: referencedURLs != nil)
        let objects = try Row.fetchCursor(db, sql: "SELECT digest, bytes, julianday(created_at) FROM objects")
        while let row = try objects.next() { builder.addObject(row[0], bytes: row[1], written: date(row[2])) }
        let thumbnails = try Row.fetchCursor(db, sql: "SELECT digest, bytes, julianday(created_at), variant FROM thumbnails")
        while let row = try thumbnails.next() { builder.addThumbnail(row[0], bytes: row[1], written: date(row[2]), variant: row[3]) }
        let sources = try Row.fetchCursor(db, sql: """
            SELECT digest, url, julianday(MAX(updated_at, COALESCE(referenced_at, updated_at))) FROM sources WHERE digest IS NOT NULL
            """)
        while let row = try sources.next() {
            let url: String = row[1]
            builder.addURL(url, of: row[0], used: date(row[2]), isReferenced: referencedURLs?.contains(url) == true)
        }
        let access = try Row.fetchCursor(db, sql: "SELECT digest, julianday(last_access) FROM access")
        while let row = try access.next() { builder.addAccess(row[0], served: date(row[1])) }
        var inventory = builder.inventory
        if let referencedURLs {
            let stale = try String.fetchAll(db, sql: """
                SELECT url FROM sources WHERE MAX(updated_at, COALESCE(referenced_at, updated_at)) < ?
                """, arguments: [staleBefore])
            inventory.staleURLs = Set(stale.filter { !referencedURLs.contains($0) })
        }
        return inventory
    }
}

/// Folds the four scans into a `PruneInventory`.
struct InventoryBuilder {
    var inventory = PruneInventory()
    private var position: [String: Int] = [:]
    private let referencing: Bool

    init(referencing: Bool) { self.referencing = referencing }

    mutating func addObject(_ digest: String, bytes: Int, written: Date) {
        position[digest] = inventory.images.count
        inventory.images.append(PruneImage(digest: digest, bytes: bytes, lastWritten: written, isReferenced: !referencing))
    }

    mutating func addThumbnail(_ digest: String, bytes: Int, written: Date, variant: String) {
        guard let at = position[digest] else { return }
        inventory.images[at].thumbnails += 1
        if OnDemandVariant.isOnDemand(variant) { inventory.images[at].onDemandVariants += 1 }
        inventory.images[at].bytes += bytes
        inventory.images[at].lastWritten = max(inventory.images[at].lastWritten, written)
    }

    mutating func addURL(_ url: String, of digest: String, used: Date, isReferenced: Bool) {
        guard let at = position[digest] else { return }
        inventory.images[at].lastReferenced = max(inventory.images[at].lastReferenced ?? .distantPast, used)
        if isReferenced { inventory.images[at].isReferenced = true }
    }

    mutating func addAccess(_ digest: String, served: Date) {
        guard let at = position[digest] else { return }
        inventory.images[at].lastServed = served
    }
}
