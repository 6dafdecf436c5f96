import CacheStore
import Foundation

/// A cache as a configuration names it: the cache folder, where its files are (the folder or
/// a bucket) and its index (SQLite in the folder or PostgreSQL). Every command and the server
/// open it here, one way, for what they are about to do.
public struct Cache: Sendable {
    public enum Purpose: Sendable {
        /// sync and migrate: the index (and the bucket) are created if missing.
        case writing
        /// serve: the index is created if missing, but a SQLite index that vanished from a
        /// folder that holds files is refused (it would serve an empty cache).
        case serving
        /// status, stats, export, prune, verify: the index must exist; nothing is created.
        case reading
    }

    public let configuration: Configuration
    /// The cache folder's own files (the index's folder; a replica's copies with a bucket).
    public let local: BlobStore
    /// Where originals and thumbnails are: `local`, or the bucket of `store:`.
    public let store: any BlobStorage
    public let index: any IndexStorage

    public init(configuration: Configuration, local: BlobStore, store: any BlobStorage, index: any IndexStorage) {
        self.configuration = configuration
        self.local = local
        self.store = store
        self.index = index
    }

    /// Opens the cache `configuration` names for `purpose`; errors name the backend and the reason.
    public static func open(_ configuration: Configuration, for purpose: Purpose) throws(CacheError) -> Cache {
        let location = configuration.indexLocation
        let folder = URL(fileURLWithPath: configuration.cacheDirectory)
        let index: any IndexStorage, local: BlobStore
        switch (purpose, location) {
        case (.reading, _):
            // Nothing is created for a cache that is not there.
            index = try location.openExisting()
            local = try BlobStore(root: folder)
        case (.serving, .sqlite(let directory)):
            try CacheIndex.refuseLostIndex(inCache: directory)
            fallthrough
        default:
            // The folder first: the SQLite index and its lock live in it.
            local = try BlobStore(root: folder)
            index = try location.open()
        }
        var store: any BlobStorage = local
        if let bucket = configuration.store {
            let s3 = S3BlobStore(bucket)
            if purpose == .writing { try s3.createBucketIfMissing() }
            store = s3
        }
        return Cache(configuration: configuration, local: local, store: store, index: index)
    }

    /// The cache folder `directory` with everything else at its defaults (tests, `imgcache thumb`).
    public static func open(directory: String, for purpose: Purpose) throws(CacheError) -> Cache {
        var configuration = Configuration()
        configuration.cacheDirectory = directory
        return try open(configuration, for: purpose)
    }
}
