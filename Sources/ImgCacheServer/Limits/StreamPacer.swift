import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Sits in every HTTP/2 stream's pipeline and counts the body bytes written to it that NIO's
/// HTTP/2 handler has not yet sent: NIO keeps those in its flow-control buffer until the client
/// opens its window, and completes their write promises when they go out. A streamed file
/// waits (`room`) before it reads another piece, so a stream whose client keeps its window
/// shut holds at most one piece, not the whole file.
final class StreamPacer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var pending = 0
    private var waiters: [(limit: Int, promise: EventLoopPromise<Void>)] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .body(let bytes) = unwrapOutboundIn(data) else { return context.write(data, promise: promise) }
        let count = bytes.readableBytes
        pending += count
        let sent = promise ?? context.eventLoop.makePromise()
        sent.futureResult.assumeIsolated().whenComplete { _ in
            self.pending -= count
            self.wake()
        }
        context.write(data, promise: sent)
    }

    /// Completes once at most `limit` bytes are waiting to be sent (failed if the stream closes).
    func room(below limit: Int, on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        if pending <= limit { return eventLoop.makeSucceededVoidFuture() }
        let promise = eventLoop.makePromise(of: Void.self)
        waiters.append((limit, promise))
        return promise.futureResult
    }

    private func wake() {
        guard !waiters.isEmpty else { return }
        let ready = waiters.filter { pending <= $0.limit }
        waiters.removeAll { pending <= $0.limit }
        for waiter in ready { waiter.promise.succeed(()) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        let waiting = waiters
        waiters = []
        for waiter in waiting { waiter.promise.fail(ChannelError.ioOnClosedChannel) }
    }
}

extension StreamPacer {
    /// Waits, on `channel`'s event loop, until its stream's unsent bytes are at most `limit`;
    /// returns at once where the channel has no pacer (HTTP/1: the socket's own backpressure).
    static func room(on channel: any Channel, below limit: Int) async throws {
        try await channel.eventLoop.flatSubmit {
            guard let pacer = try? channel.pipeline.syncOperations.handler(type: StreamPacer.self) else {
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            return pacer.room(below: limit, on: channel.eventLoop)
        }.get()
    }
}
