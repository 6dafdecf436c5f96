import Foundation

/// The name of a stored file, whatever stores it: an original by its SHA-256, a thumbnail by
/// its key (hash of digest, recipe, pipeline version) and file extension.
public enum BlobKey: Hashable, Sendable, CustomStringConvertible {
    case original(String)
    case thumbnail(String, fileExtension: String)

    /// The digest or thumbnail key.
    public var name: String {
        switch self {
        case .original(let digest): digest
        case .thumbnail(let key, _): key
        }
    }

    /// `objects/ab/cd/<sha256>` or `thumbs/ab/cd/<key>.<ext>`: the same layout on disk and in a bucket.
    public var relativePath: String {
        switch self {
        case .original(let digest): Self.fanOut("objects", digest, suffix: "")
        case .thumbnail(let key, let ext): Self.fanOut("thumbs", key, suffix: "." + ext)
        }
    }

    /// Parses a `relativePath`; nil for anything else (a stray file, a temporary).
    public init?(relativePath path: String) {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[3].count > 4, parts[1] == parts[3].prefix(2),
              parts[2] == parts[3].dropFirst(2).prefix(2) else { return nil }
        switch parts[0] {
        case "objects": self = .original(String(parts[3]))
        case "thumbs":
            guard let dot = parts[3].lastIndex(of: ".") else { return nil }
            self = .thumbnail(String(parts[3][..<dot]), fileExtension: String(parts[3][parts[3].index(after: dot)...]))
        default: return nil
        }
    }

    public var isOriginal: Bool {
        if case .original = self { true } else { false }
    }

    public var description: String { relativePath }

    private static func fanOut(_ kind: String, _ name: String, suffix: String) -> String {
        "\(kind)/\(name.prefix(2))/\(name.dropFirst(2).prefix(2))/\(name)\(suffix)"
    }
}

/// One file a blob store holds, as its listing reports it.
public struct StoredBlob: Hashable, Sendable {
    public var key: BlobKey
    public var bytes: Int
    public var modified: Date
    public init(key: BlobKey, bytes: Int, modified: Date) {
        self.key = key
        self.bytes = bytes
        self.modified = modified
    }
}

/// Where originals and thumbnails are kept, by content: the local folder (`BlobStore`) today.
/// Every implementation writes a key's bytes whole or not at all (a reader never sees part of
/// a file), and writing a key twice with the same bytes is harmless (content addressing makes
/// retries safe).
public protocol BlobStorage: Sendable {
    /// Stores `data` under `key`.
    func put(_ data: Data, as key: BlobKey) throws(CacheError)
    /// The bytes under `key`.
    func get(_ key: BlobKey) throws(CacheError) -> Data
    func exists(_ key: BlobKey) -> Bool
    /// Removes `keys` (one already gone is not an error); returns how many were removed.
    func delete(_ keys: [BlobKey]) -> Int
    /// Every stored original and thumbnail (for `verify`), a batch at a time (a folder of the
    /// fan-out, a page of the bucket's listing): what is held at once is one batch.
    func list(_ batch: ([StoredBlob]) throws -> Void) throws(CacheError)
    /// SHA-256 and size of the bytes under `key`, read in blocks; nil when it cannot be read.
    func hash(_ key: BlobKey) -> (digest: String, bytes: Int)?
    /// The file of `key` on this machine, when the store keeps its blobs as local files (the
    /// server sends those with sendfile; others are read through `ReadThroughCache`).
    func localFile(_ key: BlobKey) -> String?
    /// What writers that are no longer running left half-written (paths relative to the store).
    func abandonedTemporaryFiles() -> [String]
    /// Removes those; returns how many.
    @discardableResult func sweepTemporaryFiles() -> Int
    /// Throws, naming the store and the reason, unless a real read of the store succeeds now
    /// (readiness: a bucket that is down or refuses the credentials fails here).
    func checkReachable() throws(CacheError)
}

extension BlobStorage {
    /// Every stored original and thumbnail in one array (a small store: tests, tools).
    public func list() throws(CacheError) -> [StoredBlob] {
        var blobs: [StoredBlob] = []
        try list { blobs += $0 }
        return blobs
    }
}

@_spi(Testing) extension BlobStorage {
    /// The local folder store behind this one, for tests that damage files directly.
    public var local: BlobStore { self as! BlobStore }
}
