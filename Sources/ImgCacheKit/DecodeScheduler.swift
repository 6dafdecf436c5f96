import Dispatch
import Foundation

/// Where a sync's per-image work runs: one decode worker per core, and up to two more items per
/// core waiting for one; past that `schedule` blocks its caller (the fetch thread), so memory
/// stays bounded however many images there are.
final class DecodeScheduler: Sendable {
    private let workers = DispatchQueue(label: "imgcache.sync.decode", attributes: .concurrent)
    private let group = DispatchGroup()
    private let queued: DispatchSemaphore
    private let decoding: DispatchSemaphore

    init(cores: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)) {
        queued = DispatchSemaphore(value: cores * 3)
        decoding = DispatchSemaphore(value: cores)
    }

    func schedule(_ work: @escaping @Sendable () -> Void) {
        queued.wait()
        workers.async(group: group) { [decoding, queued] in
            decoding.wait()
            work()
            decoding.signal()
            queued.signal()
        }
    }

    /// Returns once everything scheduled so far has run.
    func waitForAll() { group.wait() }
}
