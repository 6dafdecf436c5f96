import Foundation
import Synchronization

/// A serve replica's bounded copy of hot blobs on local disk, so a warm replica answers at
/// local speed (sendfile) from files kept in an object store. A blob is fetched once, checked
/// against the hash and size its index row records (bytes served as immutable are checked,
/// never assumed), written atomically, and evicted least recently used past `maxBytes`. The
/// bound counts what the folder takes on disk: each file's blocks, and a block for each fan-out
/// folder in use (a folder is removed when its last copy is evicted).
/// For a store whose blobs are local files already, the store's own file is used.
public final class ReadThroughCache: Sendable {
    public let source: any BlobStorage
    public let maxBytes: Int
    private let replica: BlobStore?
    private struct Entry {
        var bytes: Int
        var used: UInt64
    }
    private struct State {
        var entries: [BlobKey: Entry] = [:]
        /// Copies in each fan-out folder (`objects/ab`, `objects/ab/cd`) in use.
        var folders: [Substring: Int] = [:]
        var total = 0
        var tick: UInt64 = 0

        /// Counts `key`'s folders in (`delta` 1) or out (-1); returns those it emptied.
        mutating func count(_ key: BlobKey, _ delta: Int) -> [Substring] {
            var emptied: [Substring] = []
            for folder in ReadThroughCache.folders(of: key) {
                let before = folders[folder, default: 0]
                let now = before + delta
                // A folder comes into use, or goes out of it.
                if before == 0 || now == 0 { total += delta * ReadThroughCache.folderBytes }
                folders[folder] = now > 0 ? now : nil
                if now == 0 { emptied.append(folder) }
            }
            return emptied
        }

        /// Forgets `key`'s copy; returns the folders it emptied.
        mutating func forget(_ key: BlobKey) -> [Substring] {
            guard let entry = entries.removeValue(forKey: key) else { return [] }
            total -= entry.bytes
            return count(key, -1)
        }
    }

    /// What a folder takes on disk (one block on ext4, xfs and tmpfs).
    public static let folderBytes = 4096

    /// A key's two fan-out folders, the deeper one first.
    static func folders(of key: BlobKey) -> [Substring] {
        let path = key.relativePath
        guard let leaf = path.lastIndex(of: "/"), let middle = path[..<leaf].lastIndex(of: "/") else { return [] }
        return [path[..<leaf], path[..<middle]]
    }
    private let state = Mutex(State())

    /// `folder` holds the copies; it is emptied at start (a replica starts cold, never stale).
    public init(source: any BlobStorage, folder: URL, maxBytes: Int) throws(CacheError) {
        self.source = source
        self.maxBytes = maxBytes
        if source.localFile(.original(String(repeating: "0", count: 64))) != nil {
            replica = nil
        } else {
            try? FileManager.default.removeItem(at: folder)
            replica = try BlobStore(root: folder)
        }
    }

    /// Where a blob's bytes are to be served from.
    public enum Copy: Sendable {
        /// A local file (the store's own, or the replica's copy).
        case file(String)
        /// The bytes fetched from the store, when the replica folder cannot take them (a full
        /// disk even after evicting): served from memory this once.
        case bytes(Data, reason: String)
    }

    /// The local file holding `key`'s bytes, fetched if needed. `sha256` is what the bytes must
    /// hash to (nil for thumbnail rows from before hashes were recorded: the size is checked).
    /// A replica folder that cannot be written (ENOSPC) has its least recently used half evicted
    /// and the write tried once more; failing that, the bytes come back to be served as they are.
    public func copy(_ key: BlobKey, sha256: String?, bytes: Int) throws(CacheError) -> Copy {
        guard let replica else {
            guard let path = source.localFile(key) else { throw CacheError(.io, "\(key.relativePath) has no local file and no replica folder") }
            return .file(path)
        }
        let path = replica.path(key)
        let hit = state.withLock { state -> Bool in
            guard state.entries[key] != nil else { return false }
            state.tick += 1
            state.entries[key]?.used = state.tick
            return true
        }
        if hit && replica.exists(path) { return .file(path) }
        let data = try source.get(key)
        guard data.count == bytes, sha256.map({ BlobStore.digest(data) == $0 }) ?? true else {
            throw CacheError(.io, "\(key): the store's bytes (\(data.count)) do not match what the index recorded; not served")
        }
        do {
            try replica.put(data, as: key)
        } catch {
            remove(evictOldest(fraction: 2), from: replica)
            do { try replica.put(data, as: key) } catch { return .bytes(data, reason: error.message) }
        }
        // A client already streaming an evicted file keeps reading it (see StreamedFile).
        remove(admit(key, bytes: bytes), from: replica)
        return .file(path)
    }

    /// Blocks a file of `bytes` takes on disk (the bound counts what the disk gives up).
    public static func onDisk(_ bytes: Int) -> Int { (bytes + 4095) / 4096 * 4096 }

    private typealias Evicted = (keys: [BlobKey], folders: [Substring])

    /// Records `key` as held and returns what must be evicted to stay under `maxBytes`.
    private func admit(_ key: BlobKey, bytes: Int) -> Evicted {
        state.withLock { state -> Evicted in
            state.tick += 1
            let size = Self.onDisk(bytes)
            if let old = state.entries.updateValue(Entry(bytes: size, used: state.tick), forKey: key) {
                state.total -= old.bytes
            } else {
                _ = state.count(key, 1)
            }
            state.total += size
            var evicted: Evicted = ([], [])
            // Oldest first; the file just fetched is never evicted by its own arrival.
            for (candidate, _) in state.entries.sorted(by: { $0.value.used < $1.value.used })
            where state.total > maxBytes && candidate != key {
                evicted.folders += state.forget(candidate)
                evicted.keys.append(candidate)
            }
            return evicted
        }
    }

    /// Forgets the least recently used 1/`fraction` of the copies and returns them.
    private func evictOldest(fraction: Int) -> Evicted {
        state.withLock { state -> Evicted in
            let oldest = state.entries.sorted { $0.value.used < $1.value.used }.prefix(max(1, state.entries.count / fraction))
            var evicted: Evicted = ([], [])
            for (key, _) in oldest {
                evicted.folders += state.forget(key)
                evicted.keys.append(key)
            }
            return evicted
        }
    }

    /// Deletes evicted copies, then the folders they left empty (deeper ones first). A folder
    /// a concurrent copy has just gone into is not empty and stays (rmdir refuses).
    private func remove(_ evicted: Evicted, from replica: BlobStore) {
        _ = replica.delete(evicted.keys)
        for folder in evicted.folders { rmdir(replica.rootPath + "/" + folder) }
    }

    /// Nil when a file can be written in the replica folder now, else why not (a full disk).
    public func writeProblem() -> String? {
        guard let replica else { return nil }
        do {
            try replica.checkWritable()
            return nil
        } catch {
            return error.message
        }
    }

    /// Whether files are copied from the store (false: the store's own local files are served).
    public var isReplica: Bool { replica != nil }

    /// Bytes held now.
    public var bytesHeld: Int { state.withLock { $0.total } }

    /// Drops every copy (after a prune: a removed blob is never served from here).
    public func removeAll() {
        guard let replica else { return }
        let evicted = state.withLock { state -> Evicted in
            defer { state = State() }
            return (Array(state.entries.keys), state.folders.keys.sorted { $0.count > $1.count })
        }
        remove(evicted, from: replica)
    }
}
