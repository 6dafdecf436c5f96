import Foundation
import ImgCacheKit
import Logging
import ServiceLifecycle
import Synchronization

/// Runs a blocking job (a sync or a prune) every `interval` inside the server, on a thread of
/// its own so the event loops and the cooperative pool never wait for it. A failed run is
/// logged and the next one happens on time; graceful shutdown waits for a run in progress.
public final class ScheduledJob: Service, Sendable {
    public let name: String
    public let interval: Duration
    public let runAtStart: Bool
    private let job: @Sendable () throws -> String
    private let afterRun: @Sendable () -> Void
    private let logger: Logger
    /// A watcher whose changes start a run before the interval is up (`serve --watch`).
    private let watcher: SeedWatcher?
    private let changed = Mutex(false)

    /// - Parameter job: does the work and returns a one-line summary for the log.
    public init(name: String, every interval: Duration, runAtStart: Bool = false, logger: Logger, watcher: SeedWatcher? = nil,
                job: @escaping @Sendable () throws -> String, afterRun: @escaping @Sendable () -> Void = {}) {
        self.watcher = watcher
        self.name = name
        self.interval = interval
        self.runAtStart = runAtStart
        self.job = job
        self.afterRun = afterRun
        self.logger = logger
    }

    public func run() async throws {
        startWatching()
        defer { watcher?.stop() }
        var first = true
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if !(first && runAtStart) {
                try? await cancelWhenGracefulShutdown { try await self.pause() }
                if Task.isShuttingDownGracefully || Task.isCancelled { break }
            }
            first = false
            changed.withLock { $0 = false }  // what changed until now, this run sees
            await runOnce()
        }
    }

    /// Sleeps for the interval, or until the watcher saw a change (looked at every 50 ms).
    private func pause() async throws {
        guard watcher != nil else { return try await Task.sleep(for: interval) }
        let deadline = ContinuousClock.now + interval
        while ContinuousClock.now < deadline, !changed.withLock({ $0 }) {
            try await Task.sleep(for: min(.milliseconds(50), deadline - ContinuousClock.now))
        }
    }

    /// The watcher's thread: each change it reports marks the job due (it ends with `stop()`).
    private func startWatching() {
        guard let watcher else { return }
        logger.notice("\(name): watching \(watcher.directory) (\(watcher.how))")
        let thread = Thread { [self] in
            while watcher.waitForChange() { changed.withLock { $0 = true } }
        }
        thread.name = "imgcache.\(name).watch"
        thread.start()
    }

    /// One run, awaited (used by `run()` and by tests).
    public func runOnce() async {
        let job = self.job
        let result: Result<String, any Error> = await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: Result { try job() }) }
            thread.name = "imgcache.\(name)"
            thread.start()
        }
        switch result {
        case .success(let summary): logger.notice("\(name): \(summary)")
        case .failure(let error): logger.error("\(name) failed: \(error)")
        }
        afterRun()
    }
}

/// The `--sync-every` and `--prune-every` jobs; each makes the server forget its lookups after it runs.
public func scheduledJobs(_ configuration: ServerConfiguration, service: CacheService, logger: Logger) -> [ScheduledJob] {
    var jobs: [ScheduledJob] = []
    if let sync = configuration.sync {
        let watcher = sync.watch.map { SeedWatcher(directory: sync.seedsDirectory, poll: $0.poll) }
        jobs.append(ScheduledJob(name: "sync", every: sync.every, runAtStart: true, logger: logger, watcher: watcher, job: {
            let syncer = try Syncer(seedsDirectory: sync.seedsDirectory, configuration: sync.configuration)
            syncer.writeBack = sync.writeBack
            let r = try syncer.run()
            return "\(r.seedsRead) seeds (\(r.seedsChanged) read), \(r.images) images: \(r.fetched) fetched, \(r.notModified) not modified, \(r.fresh) fresh, "
                + "\(r.failed) failed; \(r.cached) cached"
        }, afterRun: { service.invalidate() }))
    }
    if let prune = configuration.prune {
        jobs.append(ScheduledJob(name: "prune", every: prune.every, logger: logger, job: {
            let r = try Pruner(store: service.store, index: service.index, bodyImages: configuration.cache.bodyImages)
                .run(policy: prune.policy, unreferencedSeeds: prune.unreferencedSeeds, writeBackSeeds: prune.writeBackSeeds)
            return "removed \(r.removedCount) of \(r.imagesBefore) images, \(r.bytesReclaimed) bytes reclaimed, "
                + "cache now \(r.bytesAfter) bytes, \(r.keptInGrace) kept within the grace period"
        }, afterRun: { service.invalidate() }))
    }
    return jobs
}
