import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Synchronization

/// Counts open connections, in all and per client address, and turns away those over
/// `ServerLimits.maxConnections` / `maxConnectionsPerClient`.
public final class ConnectionGate: Sendable {
    public enum Refusal: String, Sendable { case total = "server", perClient = "client" }

    let limits: ServerLimits
    private let metrics: ServerMetrics
    private let state = Mutex<(total: Int, perClient: CountsByKey<String>)>((0, CountsByKey()))

    init(limits: ServerLimits, metrics: ServerMetrics) {
        self.limits = limits
        self.metrics = metrics
    }

    /// Connections open now.
    public var open: Int { state.withLock { $0.total } }

    /// Admits the connection (counted until it closes) or says why not.
    func admit(_ channel: any Channel) -> Refusal? {
        let client = channel.remoteAddress?.ipAddress ?? ""
        let refusal: Refusal? = state.withLock { state in
            if state.total >= limits.maxConnections { return .total }
            guard state.perClient.add(client, below: limits.connectionsPerAddress) else { return .perClient }
            state.total += 1
            return nil
        }
        if let refusal {
            metrics.connectionRefused(refusal.rawValue)
            return refusal
        }
        metrics.connectionsOpen(delta: 1)
        channel.closeFuture.whenComplete { _ in
            self.state.withLock { state in
                state.total -= 1
                state.perClient.remove(client)
            }
            self.metrics.connectionsOpen(delta: -1)
        }
        return nil
    }
}

/// Any of the server's connection kinds behind a `ConnectionGate`: a connection over the cap
/// gets `RefuseConnection` instead of the protocol's pipeline.
struct GatedChannel<Inner: HTTPChannelHandler>: HTTPChannelHandler {
    struct Value: ServerChildChannelValue {
        let inner: Inner.Value?
        let channel: any Channel
    }

    let inner: Inner
    let gate: ConnectionGate
    /// Whether a refused connection may be answered in clear text (not on a TLS port).
    let cleartext: Bool
    var responder: Responder { inner.responder }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        guard let refusal = gate.admit(channel) else {
            return inner.setup(channel: channel, logger: logger).map { Value(inner: $0, channel: channel) }
        }
        logger.debug("connection refused: too many open (\(refusal.rawValue) limit)")
        return channel.eventLoop.makeCompletedFuture {
            if cleartext {
                try channel.pipeline.syncOperations.addHandler(RefuseConnection(refusal: refusal))
            } else {
                channel.close(promise: nil)
            }
            return Value(inner: nil, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        if let connection = value.inner {
            await inner.handle(value: connection, logger: logger)
        } else {
            try? await value.channel.closeFuture.get()
        }
    }
}

/// Answers a connection over the cap and closes it: an HTTP/1 request gets 503 with
/// Retry-After, an HTTP/2 preface a SETTINGS frame and GOAWAY (REFUSED_STREAM, no stream
/// processed), so the client may retry. A client that sends nothing is closed after a second.
final class RefuseConnection: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let refusal: ConnectionGate.Refusal
    private var answered = false

    init(refusal: ConnectionGate.Refusal) { self.refusal = refusal }

    func handlerAdded(context: ChannelHandlerContext) {
        context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) { context.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        answered = true
        let bytes = unwrapInboundIn(data)
        let isHTTP2 = bytes.readableBytesView.starts(with: "PRI * HTTP/2".utf8)
        let answer = isHTTP2 ? Self.goAway() : Self.unavailable(refusal)
        context.writeAndFlush(NIOAny(answer)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    static func unavailable(_ refusal: ConnectionGate.Refusal) -> ByteBuffer {
        let body = refusal == .total ? #"{"error":"the server has too many open connections; retry shortly"}"#
            : #"{"error":"this client has too many open connections; retry shortly"}"#
        return ByteBuffer(string: "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body)
    }

    /// An empty SETTINGS frame (the server preface) and a GOAWAY: last stream 0, REFUSED_STREAM (0x7).
    static func goAway() -> ByteBuffer {
        ByteBuffer(bytes: [0, 0, 0, 0x4, 0, 0, 0, 0, 0] + [0, 0, 8, 0x7, 0, 0, 0, 0, 0] + [0, 0, 0, 0] + [0, 0, 0, 0x7])
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed, !answered { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
