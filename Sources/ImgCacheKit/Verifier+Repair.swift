import CacheStore
import Foundation
import GRDB

/// `verify --repair`: thumbnails are made again from sound originals; what cannot be made
/// again (a damaged original, a thumbnail whose recipe is no longer configured) is removed by
/// the prune protocol, so the next sync fetches or remakes it.
extension Verifier {
    /// Returns the URLs that are no longer cached and how many thumbnails were remade.
    func repair(_ problems: [VerifyReport.Problem], thumbnails: [ThumbnailRecord]) throws -> ([String], Int) {
        let damaged = { (item: String) in
            problems.filter { $0.item == item && ($0.kind == .corrupt || $0.kind == .missing) }
                .map { URL(fileURLWithPath: $0.path).deletingPathExtension().lastPathComponent }
        }
        let badOriginals = Set(damaged("original"))
        let byKey = Dictionary(thumbnails.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        let badThumbnails = damaged("thumbnail").compactMap { byKey[$0] }.filter { !badOriginals.contains($0.digest) }
        var remade = 0
        var toRemove: [ThumbnailRecord] = []
        for thumbnail in badThumbnails {
            if try remake(thumbnail) { remade += 1 } else { toRemove.append(thumbnail) }
        }
        let urls = try remove(originals: badOriginals.sorted(), thumbnails: toRemove, problems: problems)
        return (urls, remade)
    }

    /// Makes `record`'s thumbnail again from its original with the configured variant of the
    /// same recipe (same key), writes it, and records its size and hash. False when there is no
    /// such variant, the original cannot be read, or the original is gone by now.
    private func remake(_ record: ThumbnailRecord) throws -> Bool {
        guard let rendition = configuration.renditions.first(where: { $0.thumbnailKey(digest: record.digest) == record.key }),
              let original = try? store.read(store.objectPath(record.digest)),
              BlobStore.digest(original) == record.digest,
              let thumbnail = try? Thumbnailer.makeThumbnails(from: original, variants: [configuration.options(for: rendition)]).first,
              thumbnail.format.fileExtension == record.fileExtension else { return false }
        var updated = record
        updated.width = thumbnail.size.width
        updated.height = thumbnail.size.height
        updated.bytes = thumbnail.data.count
        updated.sha256 = BlobStore.digest(thumbnail.data)
        updated.createdAt = Date()
        return try index.write { db -> Bool in
            guard try ThumbnailRecord.exists(db, key: record.key) else { return false }
            // Under the removal lock: a prune cannot take the image between the check and the write.
            try removalLock.shared { try store.write(thumbnail.data, to: store.thumbnailPath(record)) }
            try updated.update(db)
            return true
        }
    }

    /// Removes damaged originals (with their thumbnails and rows), rows of thumbnails that could
    /// not be remade, orphans and temporary files, with the same protocol as prune: rows in one
    /// transaction, then files, under the removal lock. Returns the URLs no longer cached.
    private func remove(originals: [String], thumbnails: [ThumbnailRecord], problems: [VerifyReport.Problem]) throws -> [String] {
        let root = store.root
        func absolute(_ relative: String) -> String { root.appendingPathComponent(relative).path }
        let (urls, _) = try index.removingFiles(lock: removalLock) { db -> (result: [String], paths: [String]) in
            var urls: Set<String> = []
            var paths: [String] = []
            for digest in originals {
                urls.formUnion(try String.fetchAll(db, sql: "SELECT url FROM sources WHERE digest = ?", arguments: [digest]))
            }
            paths += try CacheIndex.deleteImages(db, digests: originals, store: store, status: "pending",
                                                 lastError: "verify --repair removed its damaged original")
            for thumbnail in thumbnails where try ThumbnailRecord.exists(db, key: thumbnail.key) {
                urls.formUnion(try String.fetchAll(db, sql: "SELECT url FROM sources WHERE digest = ?", arguments: [thumbnail.digest]))
                paths.append(store.thumbnailPath(thumbnail))
                try db.execute(sql: "UPDATE sources SET is_cached = 0 WHERE digest = ?", arguments: [thumbnail.digest])
                try thumbnail.delete(db)
            }
            // Orphans: only if still without a row now that no writer can add one.
            for problem in problems where problem.kind == .orphaned {
                let name = URL(fileURLWithPath: problem.path).deletingPathExtension().lastPathComponent
                let claimed = problem.item == "original" ? try ObjectRecord.exists(db, key: name) : try ThumbnailRecord.exists(db, key: name)
                if !claimed { paths.append(absolute(problem.path)) }
            }
            return (urls.sorted(), paths)
        }
        for problem in problems where problem.kind == .temporary { unlink(absolute(problem.path)) }
        return urls
    }
}
