import CacheStore
import Foundation
import SeedDocuments
import Synchronization

/// How a sync records what went wrong with an image.
extension Syncer {
    /// The kind of an error that is not the decoder's: a cache error's (disk full, permission
    /// denied, the index, other i/o), else other.
    static func kind(of error: any Error) -> FailureKind {
        (error as? CacheError).map(FailureKind.init) ?? .other
    }

    /// An image the run did not finish because it stopped (`BackendHalt`): nothing is written
    /// for it, to backends that do not answer.
    func stopped(_ entry: CatalogEntry, _ reason: String) -> ImageSyncResult { stopped(url: entry.url, reason) }

    func stopped(url: String, _ reason: String) -> ImageSyncResult {
        ImageSyncResult(url: url, action: .failed, isCached: false, digest: nil, error: "not synced: the sync stopped: \(reason)",
                        errorKind: .stopped, dimensionMismatch: nil, thumbnailsMade: 0)
    }

    /// A 304 for a URL with no original cached (a prune took it and its row): said as such.
    func noOriginal(_ entry: CatalogEntry) -> ImageSyncResult {
        fail(entry, reason: "the origin answered 304 but no original is cached", kind: .pruned)
    }

    /// Records a failure. A copy cached earlier stays and keeps serving. A URL that had nothing
    /// cached when the run started is recorded in a batch with others (100,000 failing URLs are
    /// a few hundred transactions, not 100,000).
    func fail(_ entry: CatalogEntry, reason: String, kind: FailureKind) -> ImageSyncResult {
        if priorDigests.withLock({ $0[entry.url] }) == nil {
            failures.add(SourceFailure(url: entry.url, reason: reason, kind: kind, declaredWidth: entry.width, declaredHeight: entry.height),
                         index: index)
            return ImageSyncResult(url: entry.url, action: .failed, isCached: false, digest: nil, error: reason,
                                   errorKind: kind, dimensionMismatch: nil, thumbnailsMade: 0)
        }
        let failure = SourceFailure(url: entry.url, reason: reason, kind: kind, declaredWidth: entry.width, declaredHeight: entry.height)
        let outcome = try? index.recordFailure(failure) { digest, thumbnails in isCached(digest: digest, thumbnails: thumbnails) }
        return ImageSyncResult(url: entry.url, action: .failed, isCached: outcome?.0 ?? false, digest: outcome?.1, error: reason,
                               errorKind: kind, dimensionMismatch: nil, thumbnailsMade: 0)
    }
}

/// Failures of URLs with nothing cached, recorded a batch at a time.
final class FailureBatch: Sendable {
    private let pending = Mutex<[SourceFailure]>([])
    private let problems = Mutex<[String]>([])
    static let size = 500

    func add(_ failure: SourceFailure, index: any IndexStorage) {
        let full = pending.withLock { pending -> [SourceFailure]? in
            pending.append(failure)
            guard pending.count >= Self.size else { return nil }
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        if let full { record(full, index: index) }
    }

    /// Records what is still pending; returns every batch that could not be recorded, as problems.
    func flush(into index: any IndexStorage) -> [String] {
        let rest = pending.withLock { pending in
            defer { pending.removeAll() }
            return pending
        }
        if !rest.isEmpty { record(rest, index: index) }
        return problems.withLock { problems in
            defer { problems.removeAll() }
            return problems
        }
    }

    private func record(_ batch: [SourceFailure], index: any IndexStorage) {
        do {
            try index.recordFailures(batch)
        } catch {
            problems.withLock { $0.append("cannot record \(batch.count) failures in the index: \(error)") }
        }
    }
}
