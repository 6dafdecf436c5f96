import CacheStore
import Fetching
import Foundation
import SeedDocuments
import Synchronization

/// How a sync's work is scheduled, apart from what each outcome means (`handle`): the fetch
/// thread hands each outcome to a decode worker (`DecodeScheduler`) as soon as it arrives, and
/// waits when the workers are behind, so memory stays bounded. Fresh entries go straight to the
/// workers; entries whose original a prune took meanwhile are fetched again, in full, at the end.
extension Syncer {
    /// What the plan or a fetch says about one entry.
    enum Outcome: Sendable {
        case fresh(SourceRecord)
        case fetched(FetchResponse)
        case notModified(FetchResponse)
        case failed(FetchError)

        init(_ fetch: FetchOutcome) {
            switch fetch {
            case .fetched(let response): self = .fetched(response)
            case .notModified(let response): self = .notModified(response)
            case .failed(let error): self = .failed(error)
            }
        }
    }

    /// Runs the plan: every entry ends as one result, in `progress` as it comes (counted on
    /// from what the windows `before` it finished and downloaded).
    func runPlan(_ plan: Plan, before: (finished: Int, bytes: Int), total: Int, progress: @escaping @Sendable (SyncProgress) -> Void,
                 onFailure: @escaping @Sendable (ImageSyncResult) -> Void) -> RunResults {
        let state = Mutex(RunState())
        let record: @Sendable (ImageSyncResult, Int) -> Void = { result, downloaded in
            let snapshot = state.withLock { state -> SyncProgress in
                state.results.append(result)
                state.bytesDownloaded += downloaded
                return SyncProgress(finished: before.finished + state.results.count, total: total,
                                    bytesDownloaded: before.bytes + state.bytesDownloaded)
            }
            if result.action == .failed, result.errorKind != .stopped { onFailure(result) }
            progress(snapshot)
        }
        let scheduler = DecodeScheduler()
        let refetch = Mutex<[CatalogEntry]>([])
        let work: @Sendable (CatalogEntry, Outcome) -> Void = { [self] entry, outcome in
            scheduler.schedule { [self] in
                if let reason = halt.reason { return record(stopped(entry, reason), 0) }
                if let result = handle(entry, outcome) { record(result, outcome.bytesDownloaded) } else { refetch.withLock { $0.append(entry) } }
            }
        }
        for (entry, source) in plan.fresh { work(entry, .fresh(source)) }
        let fetchAll = { [self] (requests: [Fetching.FetchRequest], entries: [CatalogEntry]) in
            fetcher.fetchAll(requests, stopping: { self.halt.reason != nil }) { position, outcome in work(entries[position], Outcome(outcome)) }
            scheduler.waitForAll()
        }
        fetchAll(plan.requests, plan.requestEntries)
        let again = refetch.withLock { $0 }
        if !again.isEmpty {
            // No validators: a 304 now would be answered from an original that is gone.
            fetchAll(again.map { Fetching.FetchRequest(url: $0.fetchURL, etag: nil, lastModified: nil) }, again)
            // A 304 despite that (or another prune meanwhile) ends as a failure, said as such.
            for entry in refetch.withLock({ Array($0.dropFirst(again.count)) }) {
                record(fail(entry, reason: "the original was pruned during this sync; the next sync fetches it again", kind: .pruned), 0)
            }
        }
        var results = state.withLock { RunResults(results: $0.results, bytesDownloaded: $0.bytesDownloaded) }
        if halt.reason == nil { results.indexProblems = failures.flush(into: index) }
        return results
    }

    /// What each outcome means for its image: a body goes through every step; a 304 or a fresh
    /// entry keeps its original and makes only what is missing; a failed fetch is recorded.
    /// Nil: the kept original is gone (a prune beside this sync took it), so fetch it again.
    func handle(_ entry: CatalogEntry, _ outcome: Outcome) -> ImageSyncResult? {
        switch outcome {
        case .fetched(let response):
            return process(entry, .fetched(response))
        case .notModified(let response):
            guard let source = (try? index.source(entry.url)) ?? nil else { return noOriginal(entry) }
            return process(entry, .kept(source, action: .notModified, response: response))
        case .fresh(let source):
            return process(entry, .kept(source, action: .fresh, response: nil))
        case .failed(let error):
            return fail(entry, reason: error.description, kind: FailureKind(named: error.kind.description))
        }
    }
}

extension Syncer.Outcome {
    /// Bytes this outcome downloaded (the body of a 200).
    var bytesDownloaded: Int {
        if case .fetched(let response) = self { return response.body.count }
        return 0
    }
}
