import Dispatch
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Sits in every HTTP/2 stream's pipeline and counts the body bytes written to it that NIO's
/// HTTP/2 handler has not yet sent: NIO keeps those in its flow-control buffer until the client
/// opens its window, and completes their write promises when they go out. A streamed file
/// waits (`room`) before it reads another piece, so a stream whose client keeps its window
/// shut holds at most one piece, not the whole file. `unsent` and `lastProgress` are also
/// readable from other threads, so a streaming body asks the event loop only when it must wait.
final class StreamPacer: ChannelOutboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Body bytes NIO has sent, in all (its write promises completed); written on the event
    /// loop, `sentBytes` mirrors it for readers elsewhere.
    private var sent = 0
    /// Body bytes handed in and not yet sent (for the stall check).
    private var unsent = 0
    private var waiters: [(target: Int, promise: EventLoopPromise<Void>)] = []
    let sentBytes = Atomic(0)
    let unsentBytes = Atomic(0)
    /// When bytes last went out or were handed in (uptime nanoseconds).
    let lastProgress = Atomic<UInt64>(DispatchTime.now().uptimeNanoseconds)

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .body(let bytes) = unwrapOutboundIn(data) else { return context.write(data, promise: promise) }
        let count = bytes.readableBytes
        unsent += count
        unsentBytes.store(unsent, ordering: .relaxed)
        lastProgress.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
        let done = promise ?? context.eventLoop.makePromise()
        done.futureResult.assumeIsolated().whenComplete { _ in
            self.sent += count
            self.unsent -= count
            self.sentBytes.store(self.sent, ordering: .relaxed)
            self.unsentBytes.store(self.unsent, ordering: .relaxed)
            self.lastProgress.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
            self.wake()
        }
        context.write(data, promise: done)
    }

    /// Completes once `target` body bytes in all have been sent (failed if the stream closes).
    private func sent(atLeast target: Int, on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        if sent >= target { return eventLoop.makeSucceededVoidFuture() }
        let promise = eventLoop.makePromise(of: Void.self)
        waiters.append((target, promise))
        return promise.futureResult
    }

    private func wake() {
        guard !waiters.isEmpty else { return }
        let ready = waiters.filter { sent >= $0.target }
        waiters.removeAll { sent >= $0.target }
        for waiter in ready { waiter.promise.succeed(()) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        let waiting = waiters
        waiters = []
        for waiter in waiting { waiter.promise.fail(ChannelError.ioOnClosedChannel) }
    }
}

extension StreamPacer {
    /// The pacer of `channel` (an HTTP/2 stream's), if it has one.
    static func of(_ channel: any Channel) async throws -> StreamPacer? {
        try await channel.eventLoop.submit { try? channel.pipeline.syncOperations.handler(type: StreamPacer.self) }.get()
    }

    /// Waits until all but `limit` of the `written` body bytes a response has handed to its
    /// writer have gone out; asks the event loop only when they have not.
    func room(on channel: any Channel, written: Int, below limit: Int) async throws {
        let target = written - limit
        guard sentBytes.load(ordering: .relaxed) < target else { return }
        try await channel.eventLoop.flatSubmit { self.sent(atLeast: target, on: channel.eventLoop) }.get()
    }

    /// Closes `channel` once bytes have waited unsent for `timeout` with nothing going out (the
    /// client keeps its window shut: nginx's send_timeout); checked every quarter of it.
    func closeWhenStalled(_ channel: any Channel, after timeout: TimeAmount, onTimeout: @escaping @Sendable () -> Void)
        -> RepeatedTask {
        let limit = UInt64(timeout.nanoseconds)
        return channel.eventLoop.scheduleRepeatedTask(initialDelay: timeout, delay: .nanoseconds(max(1, timeout.nanoseconds / 4))) { task in
            let idle = DispatchTime.now().uptimeNanoseconds &- self.lastProgress.load(ordering: .relaxed)
            guard self.unsentBytes.load(ordering: .relaxed) > 0, idle >= limit else { return }
            task.cancel()
            onTimeout()
            channel.close(promise: nil)
        }
    }
}
