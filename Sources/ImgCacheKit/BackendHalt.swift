import CacheStore
import Synchronization

/// Stops a sync whose index or blob store has stopped answering. Three images in a row that
/// fail to be stored or recorded because a backend cannot be used (a connection refused, a
/// timeout, refused credentials, a full or read-only disk) halt the run: no request is started any more, work already
/// scheduled ends without touching the backends, and the report says which backend failed and
/// where, once. What was written before stays whole (every file is written atomically and every
/// index change is one transaction), so the next sync adopts it.
final class BackendHalt: Sendable {
    static let threshold = 3
    private let state = Mutex<(consecutive: Int, reason: String?)>((0, nil))

    /// Why the run stopped, or nil while it goes on.
    var reason: String? { state.withLock { $0.reason } }

    /// An image could not be stored or recorded because of `error`. Only an error that says a
    /// backend is unavailable counts (a prune that took an original during the sync does not).
    func failed(_ error: any Error) {
        guard Self.isOutage(error) else { return }
        state.withLock { state in
            state.consecutive += 1
            if state.reason == nil, state.consecutive >= Self.threshold { state.reason = Self.describe(error) }
        }
    }

    /// Stops the run for `reason` (a signal to a watching sync): the same end as an outage.
    func stop(_ reason: String) {
        state.withLock { if $0.reason == nil { $0.reason = reason } }
    }

    /// An image was stored and recorded: the backends answer.
    func succeeded() {
        state.withLock { $0.consecutive = 0 }
    }

    /// The texts by which the PostgreSQL index (PostgresNIO) and the S3 store (libcurl) say
    /// they cannot be reached now. A full or read-only disk is known by its errno instead.
    static let outageSigns = ["cannot reach", "Connection refused", "Couldn't connect", "Could not connect", "timed out",
                              "Timeout was reached", "connection was closed", "Failure when receiving data", "Failure when sending data", "SignatureDoesNotMatch", "InvalidAccessKeyId",
                              "AccessDenied"]

    static func isOutage(_ error: any Error) -> Bool {
        if let cache = error as? CacheError, FailureKind(cache).isDiskRefusal { return true }
        let text = "\(error)"
        return outageSigns.contains { text.localizedCaseInsensitiveContains($0) }
    }

    private static func describe(_ error: any Error) -> String {
        guard let error = error as? CacheError else { return "\(error)" }
        return error.message
    }
}
