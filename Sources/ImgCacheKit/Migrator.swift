import CacheStore
import Foundation

/// What `imgcache migrate` did.
public struct MigrationReport: Codable, Sendable {
    public var from: String
    public var index: String
    public var store: String
    public var images = 0
    /// Originals the shared index did not have yet (0 when run again).
    public var imagesNew = 0
    public var urls = 0
    public var filesUploaded = 0
    public var bytesUploaded = 0
    /// Images left out, each with the reason (a file missing or not what the index says).
    public var skipped: [Skipped] = []
    public var seconds = 0.0

    public struct Skipped: Codable, Sendable {
        public var digest: String
        public var reason: String
    }
}

/// Copies a local cache (SQLite index, files in the cache folder) into the shared backends
/// the configuration names (`index: postgres://…`, and `store: s3://…` if set): every file
/// re-hashed before it is uploaded, every row recorded only after its files are stored, in
/// batches; rows the shared index has already are kept, so an interrupted run can be repeated.
/// The local cache is only read.
public struct Migrator {
    public let cacheDirectory: String
    public let configuration: Configuration
    public var batchSize = 200

    public init(cacheDirectory: String, configuration: Configuration) {
        self.cacheDirectory = cacheDirectory
        self.configuration = configuration
    }

    public func run(progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws(CacheError) -> MigrationReport {
        let started = Date()
        guard case .postgres(let location) = configuration.indexLocation else {
            throw CacheError(.database, "migrate copies a local cache into a shared index: set index: postgres://user@host:port/db "
                             + "in the config (or IMGCACHE_INDEX), and store: s3://bucket/prefix for the files")
        }
        // From the cache folder's own index and files to the shared index and store.
        let localCache = try Cache.open(directory: cacheDirectory, for: .reading)
        guard let source = localCache.index as? CacheIndex else { throw CacheError(.database, "migrate reads a cache folder's SQLite index") }
        let local = localCache.local
        let shared = try Cache.open(configuration, for: .writing)
        // Importing batches is the PostgreSQL index's alone.
        guard let target = shared.index as? PostgresIndex else { throw CacheError(.database, "migrate needs a PostgreSQL index") }
        let store = configuration.store == nil ? nil : shared.store
        var report = MigrationReport(from: cacheDirectory, index: location.description,
                                     store: configuration.store?.description ?? "the cache folder (files stay where they are)")
        // Originals with their files and rows, a page at a time in digest order.
        let total = try source.originalCount()
        var after: String?, done = 0
        while case let page = try source.migrationPage(after: after, limit: batchSize), let last = page.objects.last {
            after = last.digest
            let (batch, files) = Self.batch(page, checkingIn: store == nil ? nil : local, skipped: &report.skipped)
            var uploaded = (files: 0, bytes: 0)
            report.imagesNew += try target.importBatch(batch) {
                if let store { uploaded = try Self.upload(files, from: local, to: store) }
            }
            report.filesUploaded += uploaded.files
            report.bytesUploaded += uploaded.bytes
            report.images += batch.objects.count
            report.urls += batch.sources.count
            done += page.objects.count
            progress(done, total)
        }
        // Then the URLs without an original (failed, pruned) and the seed references, which
        // name URLs: each in pages of their own.
        var url: String?
        while case let sources = try source.sourcesWithoutOriginal(after: url, limit: batchSize * 10), let last = sources.last {
            url = last.url
            var batch = ImportBatch()
            batch.sources = sources
            _ = try target.importBatch(batch) {}
            report.urls += sources.count
        }
        var reference: (path: String, url: String)?
        while case let references = try source.referencesPage(after: reference, limit: batchSize * 10), let last = references.last {
            reference = (last.seedPath, last.url)
            var batch = ImportBatch()
            batch.references = references
            _ = try target.importBatch(batch) {}
        }
        // The planner's statistics are of the tables before the copy until autovacuum comes by:
        // at a million rows, the dashboard's pages were up to 9 times slower on them.
        target.refreshPlannerStatistics()
        progress(done, total)
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    /// The rows of a page's images and, when `local` is given, their files checked against
    /// those rows; an image whose files do not check out is left out and listed.
    static func batch(_ page: MigrationPage, checkingIn local: BlobStore?, skipped: inout [MigrationReport.Skipped]) -> (ImportBatch, [CheckedFile]) {
        var batch = ImportBatch()
        var files: [CheckedFile] = []
        for object in page.objects {
            let thumbnails = page.thumbnails[object.digest] ?? []
            if let local {
                do {
                    files += try checkedFiles(object, thumbnails, in: local)
                } catch {
                    skipped.append(.init(digest: object.digest, reason: error.message))
                    continue
                }
            }
            batch.objects.append(object)
            batch.thumbnails += thumbnails
            batch.sources += page.sources[object.digest] ?? []
            if let date = page.lastServed[object.digest] { batch.access[object.digest] = date }
        }
        return (batch, files)
    }

    /// Puts each file the store lacks, one in memory at a time, hashed again as it is read.
    static func upload(_ files: [CheckedFile], from local: BlobStore, to store: any BlobStorage) throws(CacheError) -> (files: Int, bytes: Int) {
        var uploaded = (files: 0, bytes: 0)
        for file in files where !store.exists(file.key) {
            let data = try local.get(file.key)
            guard file.sha256.map({ $0 == BlobStore.digest(data) }) ?? true else {
                throw CacheError(.io, "\(file.key) changed while it was being copied; run migrate again")
            }
            try store.put(data, as: file.key)
            uploaded.files += 1
            uploaded.bytes += data.count
        }
        return uploaded
    }

    /// A local file to copy and the SHA-256 its bytes must have.
    struct CheckedFile {
        var key: BlobKey
        var sha256: String?
    }

    /// The files of one image, hashed (streamed) and checked against the index: the original's
    /// SHA-256 is its name; a thumbnail's size and hash were recorded when it was written.
    static func checkedFiles(_ object: ObjectRecord, _ thumbnails: [ThumbnailRecord],
                             in local: BlobStore) throws(CacheError) -> [CheckedFile] {
        guard let original = local.hash(object.blobKey) else { throw CacheError(.io, "\(object.blobKey) is missing") }
        guard original.digest == object.digest else {
            throw CacheError(.io, "\(object.blobKey): the file's SHA-256 is not its name (run `imgcache verify --repair` first)")
        }
        var files = [CheckedFile(key: object.blobKey, sha256: object.digest)]
        for thumbnail in thumbnails {
            guard let found = local.hash(thumbnail.blobKey) else { throw CacheError(.io, "\(thumbnail.blobKey) is missing") }
            guard found.bytes == thumbnail.bytes, thumbnail.sha256.map({ $0 == found.digest }) ?? true else {
                throw CacheError(.io, "\(thumbnail.blobKey): the file is not what the index recorded (run `imgcache verify --repair` first)")
            }
            files.append(CheckedFile(key: thumbnail.blobKey, sha256: thumbnail.sha256 ?? found.digest))
        }
        return files
    }
}
