import NIOCore
import Synchronization

/// Which HTTP/2 streams send a file now: at most `perConnection` of one connection and `total`
/// in all (`ServerLimits.sendersPerConnection`, `ServerLimits.senders`).
///
/// A connection's streams share one socket, so a hundred streams sending at once go no faster
/// than a few: they only hold a hundred sets of pieces. With turns, a few streams send in large
/// pieces (`ServerLimits.http2Piece`) and the others wait, first come first served, holding no
/// piece and no descriptor. A turn is given back once its stream's bytes have all gone out, or
/// its body has ended otherwise (the stream closed, also by the send timeout for a client that
/// stops reading), so streams waiting behind a stalled one move on. Memory for pieces is at most
/// `total` × 2 × `http2Piece`.
final class SendingTurns: Sendable {
    let perConnection: Int
    let total: Int
    private struct State {
        var sending = CountsByKey<ObjectIdentifier>()
        var sendingInAll = 0
        var waiting: [(connection: ObjectIdentifier, continuation: CheckedContinuation<Void, Never>)] = []

        func canSend(_ connection: ObjectIdentifier, perConnection: Int, total: Int) -> Bool {
            sendingInAll < total && sending[connection] < perConnection
        }

        mutating func start(_ connection: ObjectIdentifier) {
            _ = sending.add(connection)
            sendingInAll += 1
        }

        mutating func end(_ connection: ObjectIdentifier) {
            sending.remove(connection)
            sendingInAll -= 1
        }
    }
    private let state = Mutex(State())

    init(perConnection: Int, total: Int) {
        self.perConnection = perConnection
        self.total = total
    }

    /// Waits for a turn for `stream`, one of a connection's streams; the turn ends when the
    /// returned value goes.
    func take(for stream: any Channel) async -> Held {
        let connection = ObjectIdentifier(stream.parent ?? stream)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                guard state.waiting.isEmpty, state.canSend(connection, perConnection: perConnection, total: total) else {
                    state.waiting.append((connection, continuation))
                    return false
                }
                state.start(connection)
                return true
            }
            if now { continuation.resume() }
        }
        return Held { self.giveBack(connection) }
    }

    /// Ends a turn and starts the first waiting stream whose connection may send.
    private func giveBack(_ connection: ObjectIdentifier) {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.end(connection)
            guard let index = state.waiting.firstIndex(where: { state.canSend($0.connection, perConnection: perConnection, total: total) })
            else { return nil }
            let next = state.waiting.remove(at: index)
            state.start(next.connection)
            return next.continuation
        }
        next?.resume()
    }
}
