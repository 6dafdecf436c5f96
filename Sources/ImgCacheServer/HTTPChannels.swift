import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// Hummingbird's HTTP/1.1 channel with `HotFileHandler` right after NIO's HTTP/1 parser and
/// `HTTP10Connections` after it, both before the HTTP types codec. The hot-file handler keeps
/// the idle timeout, so `inner` is configured without one.
struct HotPathHTTP1Channel: HTTPChannelHandler {
    typealias Value = HTTP1Channel.Value
    let inner: HTTP1Channel
    let makeHandler: @Sendable () -> HotFileHandler

    var responder: Responder { inner.responder }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldSize = inner.configuration.httpDecoder.maxHeaderFieldSize
        limits.maxHeaderListSize = inner.configuration.httpDecoder.maxHeaderListSize
        limits.maxHeaderFieldCount = inner.configuration.httpDecoder.maxHeaderFieldCount
        return inner.setup(channel: channel, logger: logger).flatMap { value in
            // NIO's parser as `configureHTTPServerPipeline` makes it tells the response encoder every
            // request's method, and the encoder pairs each with the next head it encodes. Hot answers
            // do not pass the encoder, so the parser is replaced by one with the same limits that
            // tells it nothing; `HotFileHandler` keeps the routed requests' methods instead. No byte
            // has arrived yet (`HTTPVersionSniffer` holds them until this future completes).
            let paired = Result { try channel.pipeline.syncOperations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self) }
            return channel.eventLoop.makeCompletedFuture(paired)
                .flatMap { channel.pipeline.removeHandler($0) }
                .flatMapThrowing {
                    let operations = channel.pipeline.syncOperations
                    let encoder = try operations.handler(type: HTTPResponseEncoder.self)
                    let parser = ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes, limitConfiguration: limits))
                    try operations.addHandler(parser, position: .after(encoder))
                    let hot = makeHandler()
                    try operations.addHandler(hot, position: .after(parser))
                    try operations.addHandler(HTTP10Connections(), position: .after(hot))
                    return value
                }
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// HTTP/1.1 and cleartext HTTP/2 (h2c, "prior knowledge": the client opens with HTTP/2's
/// preface, as `curl --http2-prior-knowledge`, h2load and proxies configured for h2c do) on one
/// port. The first bytes of a connection decide: HTTP/2's preface gets Hummingbird's HTTP/2
/// channel (each stream through the same router), anything else the HTTP/1.1 channel with the
/// hot path.
struct HTTP1AndH2CChannel: HTTPChannelHandler {
    enum Negotiated: Sendable {
        case http1(HotPathHTTP1Channel.Value)
        case http2(HTTP2Channel.Value)
    }
    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<Negotiated>
        let channel: any Channel
    }

    let http1: HotPathHTTP1Channel
    let http2: HTTP2Channel
    var responder: Responder { http1.responder }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let negotiated = channel.eventLoop.makePromise(of: Negotiated.self)
            let sniffer = HTTPVersionSniffer(result: negotiated) { [http1, http2] isHTTP2 in
                isHTTP2 ? http2.setup(channel: channel, logger: logger).map { .http2($0) }
                    : http1.setup(channel: channel, logger: logger).map { .http1($0) }
            }
            try channel.pipeline.syncOperations.addHandler(sniffer)
            return Value(negotiated: negotiated.futureResult, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        // A connection that has not sent its first bytes when the server shuts down is closed.
        let negotiated = await withGracefulShutdownHandler {
            try? await value.negotiated.get()
        } onGracefulShutdown: {
            value.channel.close(promise: nil)
        }
        switch negotiated {
        case .http1(let connection): await http1.handle(value: connection, logger: logger)
        case .http2(let connection): await http2.handle(value: connection, logger: logger)
        case nil: logger.debug("connection closed before its first request")
        }
    }
}

/// Holds a connection's first bytes until they show whether it opens with HTTP/2's preface,
/// then has the pipeline set up for that protocol, hands it the bytes and steps aside.
final class HTTPVersionSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    private let result: EventLoopPromise<HTTP1AndH2CChannel.Negotiated>
    private let configure: (Bool) -> EventLoopFuture<HTTP1AndH2CChannel.Negotiated>
    private var buffered: ByteBuffer?
    private var decided = false

    init(result: EventLoopPromise<HTTP1AndH2CChannel.Negotiated>,
         configure: @escaping (Bool) -> EventLoopFuture<HTTP1AndH2CChannel.Negotiated>) {
        self.result = result
        self.configure = configure
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        guard !decided else { return context.fireChannelRead(data) }
        if buffered == nil { buffered = incoming } else { buffered!.writeBuffer(&incoming) }
        let bytes = buffered!.readableBytesView
        let count = min(bytes.count, Self.preface.count)
        let matches = bytes.prefix(count).elementsEqual(Self.preface.prefix(count))
        if !matches || count == Self.preface.count { decide(http2: matches, context: context) }
    }

    private func decide(http2: Bool, context: ChannelHandlerContext) {
        decided = true
        configure(http2).assumeIsolated().whenComplete { outcome in
            switch outcome {
            case .success(let negotiated):
                self.result.succeed(negotiated)
                if let bytes = self.buffered { context.fireChannelRead(self.wrapInboundOut(bytes)) }
                self.buffered = nil
                context.fireChannelReadComplete()
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            case .failure(let error):
                self.result.fail(error)
                context.close(promise: nil)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !decided { result.fail(ChannelError.eof) }
        decided = true
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !decided {
            decided = true
            result.fail(error)
            context.close(promise: nil)
            return
        }
        context.fireErrorCaught(error)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with hot files answered on the event loop (see `HotFileHandler`), and h2c on
    /// the same port.
    /// `hotFiles` makes each connection's handler, which keeps its idle timeout.
    static func http1AndH2C(idleTimeout: TimeAmount, hotFiles: @escaping @Sendable () -> HotFileHandler) -> HTTPServerBuilder {
        .init { responder in
            HTTP1AndH2CChannel(
                http1: HotPathHTTP1Channel(inner: HTTP1Channel(responder: responder, configuration: .init(idleTimeout: nil)),
                                           makeHandler: hotFiles),
                http2: HTTP2Channel(responder: responder, configuration: .init(idleTimeout: .nanoseconds(idleTimeout.nanoseconds))))
        }
    }
}
