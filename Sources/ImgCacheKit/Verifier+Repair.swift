import CacheStore
import Foundation

/// `verify --repair`: thumbnails are made again from sound originals; what cannot be made
/// again (a damaged original, a thumbnail whose recipe is no longer configured) is removed by
/// the prune protocol, so the next sync fetches or remakes it.
extension Verifier {
    /// Returns the URLs that are no longer cached and how many thumbnails were remade.
    func repair(_ problems: [VerifyReport.Problem]) throws -> ([String], Int) {
        let damaged = { (item: String) in
            problems.filter { $0.item == item && ($0.kind == .corrupt || $0.kind == .missing) }
                .compactMap { BlobKey(relativePath: $0.path)?.name }
        }
        let badOriginals = Set(damaged("original"))
        let badThumbnails = try damaged("thumbnail").compactMap { try index.thumbnail(key: $0) }.filter { !badOriginals.contains($0.digest) }
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
              let original = try? store.get(.original(record.digest)),
              BlobStore.digest(original) == record.digest,
              let thumbnail = try? Thumbnailer.makeThumbnails(from: original, variants: [configuration.options(for: rendition)]).first,
              thumbnail.format.fileExtension == record.fileExtension else { return false }
        var updated = record
        updated.width = thumbnail.size.width
        updated.height = thumbnail.size.height
        updated.bytes = thumbnail.data.count
        updated.sha256 = BlobStore.digest(thumbnail.data)
        updated.createdAt = Date()
        return try index.replaceThumbnail(updated) { try store.put(thumbnail.data, as: record.blobKey) }
    }

    /// Removes damaged originals (with their thumbnails and rows), rows of thumbnails that could
    /// not be remade, orphans and temporary files, with the same protocol as prune: rows in one
    /// transaction, then files, under the removal lock. Returns the URLs no longer cached.
    private func remove(originals: [String], thumbnails: [ThumbnailRecord], problems: [VerifyReport.Problem]) throws -> [String] {
        let orphans = problems.filter { $0.kind == .orphaned }.compactMap { BlobKey(relativePath: $0.path) }
        let urls = try index.removeDamaged(originals: originals, thumbnails: thumbnails, orphans: orphans,
                                           reason: "verify --repair removed its damaged original",
                                           removeFiles: { store.delete($0) })
        if problems.contains(where: { $0.kind == .temporary }) { store.sweepTemporaryFiles() }
        return urls
    }
}
