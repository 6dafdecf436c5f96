import Foundation
import Logging
import ServiceLifecycle

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

    /// - Parameter job: does the work and returns a one-line summary for the log.
    public init(name: String, every interval: Duration, runAtStart: Bool = false, logger: Logger,
                job: @escaping @Sendable () throws -> String, afterRun: @escaping @Sendable () -> Void = {}) {
        self.name = name
        self.interval = interval
        self.runAtStart = runAtStart
        self.job = job
        self.afterRun = afterRun
        self.logger = logger
    }

    public func run() async throws {
        var first = true
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if !(first && runAtStart) {
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
                if Task.isShuttingDownGracefully || Task.isCancelled { break }
            }
            first = false
            await runOnce()
        }
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
