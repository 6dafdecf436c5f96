import Foundation
import NIOCore
import Synchronization

/// Where on-demand renders run: a bounded number of worker threads (renders are CPU work and
/// never block Swift's cooperative pool, which serves the files), a bounded queue in front of
/// them, and in-flight coalescing — requests for a key being rendered wait for that render
/// rather than starting another. A full queue refuses at once (`RenderPool.Busy`, answered
/// 429); a render that failed with a client error is remembered for `failureTTL` and answered
/// again without any work, so a bad URL cannot make the server decode in a loop.
final class RenderPool<Value: Sendable>: Sendable {
    typealias Work = @Sendable () throws(ServerError) -> Value

    /// Every worker is busy and the queue is full.
    struct Busy: Error {}

    /// The key's render failed a moment ago (within `failureTTL`): its error, not tried again.
    struct Remembered: Error {
        var error: ServerError
    }

    private struct Job {
        var key: String
        var work: Work
    }

    private struct State {
        var running = 0
        var queue = CircularBuffer<Job>()
        var waiting: [String: [CheckedContinuation<Value, any Error>]] = [:]
        var failures: [String: (until: Date, error: ServerError)] = [:]
    }

    private enum Decision { case start(Job), wait, refuse(any Error) }

    private let state = Mutex(State())
    let workers: Int
    let queueLimit: Int
    let failureTTL: TimeInterval
    private static var maxFailures: Int { 10_000 }

    init(workers: Int, queue: Int, failureTTL: TimeInterval) {
        self.workers = max(1, workers)
        self.queueLimit = max(0, queue)
        self.failureTTL = failureTTL
    }

    /// Renders waiting for a worker, and running (for /metrics and tests).
    var load: (queued: Int, running: Int) { state.withLock { ($0.queue.count, $0.running) } }

    /// `work`'s value for `key`: from a render in flight for it, else from a new one (run now,
    /// or queued). Throws `Busy` when it can be neither, or the remembered failure of `key`.
    func value(for key: String, work: @escaping Work) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            let decision = state.withLock { state -> Decision in
                if let failure = state.failures[key] {
                    if failure.until > Date() { return .refuse(Remembered(error: failure.error)) }
                    state.failures[key] = nil
                }
                if state.waiting[key] != nil {
                    state.waiting[key, default: []].append(continuation)
                    return .wait
                }
                if state.running < workers {
                    state.running += 1
                    state.waiting[key] = [continuation]
                    return .start(Job(key: key, work: work))
                }
                guard state.queue.count < queueLimit else { return .refuse(Busy()) }
                state.queue.append(Job(key: key, work: work))
                state.waiting[key] = [continuation]
                return .wait
            }
            switch decision {
            case .start(let job): startWorker(with: job)
            case .wait: break
            case .refuse(let error): continuation.resume(throwing: error)
            }
        }
    }

    /// A thread that runs `job`, then queued jobs until the queue is empty.
    private func startWorker(with job: Job) {
        let thread = Thread { [self] in
            var next: Job? = job
            while let job = next {
                let result: Result<Value, ServerError>
                do throws(ServerError) { result = .success(try job.work()) } catch { result = .failure(error) }
                next = finish(job.key, result)
            }
        }
        thread.name = "imgcache-render"
        thread.start()
    }

    /// Hands `result` to everyone waiting for `key`, remembers a client-error failure, and
    /// takes the next queued job (nil: this worker stops).
    private func finish(_ key: String, _ result: Result<Value, ServerError>) -> Job? {
        let (waiters, next) = state.withLock { state -> ([CheckedContinuation<Value, any Error>], Job?) in
            let waiters = state.waiting.removeValue(forKey: key) ?? []
            if case .failure(let error) = result, (400..<500).contains(error.status.code), failureTTL > 0 {
                if state.failures.count >= Self.maxFailures { state.failures.removeAll(keepingCapacity: true) }
                state.failures[key] = (Date().addingTimeInterval(failureTTL), error)
            }
            let next = state.queue.popFirst()
            if next == nil { state.running -= 1 }
            return (waiters, next)
        }
        for waiter in waiters { waiter.resume(with: result.mapError { $0 as any Error }) }
        return next
    }
}
