import CacheStore
import Foundation
import GRDB
import HTTPTypes
import ImgCacheKit
import NIOCore
import Synchronization

/// Read-side queries the server needs, over the same index and files `sync` writes. Every
/// lookup goes through the index: no filesystem path is ever built from request text.
public final class CacheService: Sendable {
    public let store: BlobStore
    public let index: CacheIndex
    public let variants: [Variant]

    /// A file to serve and what to say about it.
    public struct ServedFile: Sendable {
        public var path: String
        public var bytes: Int
        public var contentType: String
        /// Strong validator: the thumbnail key or the original's digest (content-addressed).
        public var etag: String
        public var digest: String

        /// ETag, immutable caching and type: what every answer for this file carries.
        public var headers: HTTPFields {
            [.eTag: etag, .cacheControl: "public, max-age=31536000, immutable", .contentType: contentType]
        }

        /// Whether an If-None-Match header names this file (or is "*").
        public func isMatched(by ifNoneMatch: String?) -> Bool {
            guard let ifNoneMatch else { return false }
            return ifNoneMatch.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == etag || $0 == "*" }
        }
    }

    /// Resolved lookups. Content-addressed URLs never change meaning, so an answer stays
    /// right until the file is pruned (then serving fails and the entry is dropped).
    private let lookups = Mutex<[String: ServedFile]>([:])
    private static let maxLookups = 50_000

    /// Bytes of small, hot files (≤ 64 KB each, 32 MB in all), so the most requested thumbnails
    /// cost no disk round trip; larger files are always streamed from disk.
    private let smallFiles = Mutex<(files: [String: ByteBuffer], bytes: Int)>(([:], 0))
    public static let smallFileLimit = 64 * 1024
    private static let smallFileBudget = 32 * 1024 * 1024

    public init(cacheDirectory: String, variants: [Variant]) throws(CacheError) {
        try CacheIndex.refuseLostIndex(inCache: cacheDirectory)
        let root = URL(fileURLWithPath: cacheDirectory)
        store = try BlobStore(root: root)
        index = try CacheIndex(path: root.appendingPathComponent("index.sqlite").path)
        self.variants = variants
    }

    static func isDigest(_ text: Substring) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    static func contentType(format: String) -> String { format == "png" ? "image/png" : "image/jpeg" }

    /// `digest` + `name.ext` from `/t/<digest>/<name>.<ext>`: strict (hex digest, a configured
    /// variant, the extension of the stored format), else nil.
    public func thumbnail(digest: Substring, file: Substring) throws(CacheError) -> ServedFile? {
        let cacheKey = "t/\(digest)/\(file)"
        if let hit = lookups.withLock({ $0[cacheKey] }) { return hit }
        let found = try lookUpThumbnail(digest: digest, file: file)
        if let found { remember(cacheKey, found) }
        return found
    }

    /// A lookup already resolved (`t/<digest>/<file>` or `o/<file>`), or nil: no index read.
    public func remembered(_ cacheKey: String) -> ServedFile? {
        lookups.withLock { $0[cacheKey] }
    }

    private func remember(_ key: String, _ file: ServedFile) {
        lookups.withLock { lookups in
            if lookups.count >= Self.maxLookups { lookups.removeAll(keepingCapacity: true) }
            lookups[key] = file
        }
    }

    /// Forgets what is known about `file` (it could not be read: pruned).
    public func forget(_ file: ServedFile) {
        hotResponses.removeAll()
        lookups.withLock { lookups in lookups = lookups.filter { $0.value.path != file.path } }
        smallFiles.withLock { cache in
            if let buffer = cache.files.removeValue(forKey: file.path) { cache.bytes -= buffer.readableBytes }
        }
    }

    /// A file whose lookup (`t/<digest>/<file>` or `o/<file>`) and bytes are both in memory, or
    /// nil: no index read, no disk access, so the event loop may call it.
    public func hotFile(_ cacheKey: String) -> (ServedFile, ByteBuffer)? {
        guard let file = lookups.withLock({ $0[cacheKey] }) else { return nil }
        guard let bytes = smallFiles.withLock({ $0.files[file.path] }) else { return nil }
        return (file, bytes)
    }

    /// Complete responses of hot files for the event-loop path (`HotFileHandler`).
    public let hotResponses = HotResponses()

    /// Forgets every lookup and cached file (after a prune).
    public func invalidate() {
        hotResponses.removeAll()
        lookups.withLock { $0.removeAll() }
        smallFiles.withLock { $0 = ([:], 0) }
    }

    /// The bytes of a small file, read once and kept; nil for files over the limit.
    public func smallFileBytes(_ file: ServedFile) -> ByteBuffer? {
        guard file.bytes <= Self.smallFileLimit else { return nil }
        if let cached = smallFiles.withLock({ $0.files[file.path] }) { return cached }
        guard let data = FileManager.default.contents(atPath: file.path), data.count == file.bytes else { return nil }
        let buffer = ByteBuffer(bytes: data)
        smallFiles.withLock { cache in
            if cache.bytes + buffer.readableBytes > Self.smallFileBudget { cache = ([:], 0) }
            cache.files[file.path] = buffer
            cache.bytes += buffer.readableBytes
        }
        return buffer
    }

    private func lookUpThumbnail(digest: Substring, file: Substring) throws(CacheError) -> ServedFile? {
        guard Self.isDigest(digest), let dot = file.lastIndex(of: "."),
              let variant = variants.first(where: { $0.name == file[..<dot] }) else { return nil }
        let ext = file[file.index(after: dot)...]
        let key = variant.thumbnailKey(digest: digest)
        guard let record = try index.read({ db in try ThumbnailRecord.fetchOne(db, key: key) }),
              record.fileExtension == ext else { return nil }
        let path = store.thumbnailPath(record)
        return ServedFile(path: path, bytes: record.bytes, contentType: Self.contentType(format: record.format),
                          etag: "\"\(record.key)\"", digest: record.digest)
    }

    /// `/o/<digest>.<ext>`: an original.
    public func original(file: Substring) throws(CacheError) -> ServedFile? {
        let cacheKey = "o/\(file)"
        if let hit = lookups.withLock({ $0[cacheKey] }) { return hit }
        let found = try lookUpOriginal(file: file)
        if let found { remember(cacheKey, found) }
        return found
    }

    private func lookUpOriginal(file: Substring) throws(CacheError) -> ServedFile? {
        guard let dot = file.lastIndex(of: "."), Self.isDigest(file[..<dot]) else { return nil }
        let digest = String(file[..<dot]), ext = file[file.index(after: dot)...]
        guard let object = try index.read({ db in try ObjectRecord.fetchOne(db, key: digest) }),
              object.fileExtension == ext else { return nil }
        return ServedFile(path: store.objectPath(digest), bytes: object.bytes, contentType: Self.contentType(format: object.format),
                          etag: "\"\(digest)\"", digest: digest)
    }

    /// The immutable URL of `url`'s `variant`, when it is cached.
    public func immutableURL(for url: String, variant name: String) throws(CacheError) -> String? {
        guard let variant = variants.first(where: { $0.name == name }) else { return nil }
        return try index.read { db in
            guard let digest = try SourceRecord.fetchOne(db, key: url)?.digest else { return nil }
            let key = variant.thumbnailKey(digest: digest)
            guard let record = try ThumbnailRecord.fetchOne(db, key: key) else { return nil }
            return Self.thumbnailURL(record)
        }
    }

    /// Whether the index has a row for `url` (a seed named it in some sync).
    public func knows(url: String) throws(CacheError) -> Bool {
        try index.source(url) != nil
    }

    static func thumbnailURL(_ record: ThumbnailRecord) -> String {
        "/t/\(record.digest)/\(record.variant).\(record.fileExtension)"
    }

    public func manifest(seed: String?) throws(CacheError) -> Manifest {
        try Manifest.build(index: index, variants: variants, seed: seed) { Self.thumbnailURL($0) }
    }

    /// The last health check and when it ran: /healthz reads the index at most once a second.
    private let lastHealth = Mutex<(at: ContinuousClock.Instant, problem: String?)?>(nil)

    /// Nil when the index reads back whole; else what failed. Reads every row of every table
    /// (the text columns too, so overflow pages are read): a damaged page shows here before
    /// the manifest or a lookup trips on it. Blocking: call it off the event loop.
    public func indexProblem() -> String? {
        let now = ContinuousClock.now
        if let last = lastHealth.withLock({ $0 }), now - last.at < .seconds(1) { return last.problem }
        var problem: String?
        do {
            _ = try index.read { db in
                try Int.fetchOne(db, sql: """
                    SELECT (SELECT COUNT(*) FROM sources WHERE LENGTH(url) + LENGTH(COALESCE(last_error, '')) >= 0)
                         + (SELECT COUNT(*) FROM objects WHERE LENGTH(digest) >= 0)
                         + (SELECT COUNT(*) FROM thumbnails WHERE LENGTH(key) >= 0)
                    """)
            }
        } catch {
            problem = "the cache index cannot be read: \(error)"
        }
        lastHealth.withLock { $0 = (now, problem) }
        return problem
    }

    /// Figures for /metrics.
    public struct Totals: Sendable {
        public var objects = 0
        public var objectBytes = 0
        public var thumbnails = 0
        public var thumbnailBytes = 0
        public var lastSync: Date?
        public var lastPrune: Date?
    }

    public func totals() throws(CacheError) -> Totals {
        try index.read { db in
            var totals = Totals()
            if let row = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM objects") {
                totals.objects = row["n"]
                totals.objectBytes = row["b"]
            }
            if let row = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM thumbnails") {
                totals.thumbnails = row["n"]
                totals.thumbnailBytes = row["b"]
            }
            totals.lastSync = try CacheIndex.date(db, MetaKey.lastSync) ?? Date.fetchOne(db, sql: "SELECT MAX(updated_at) FROM sources")
            totals.lastPrune = try CacheIndex.date(db, MetaKey.lastPrune)
            return totals
        }
    }
}
