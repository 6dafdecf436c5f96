import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOSSL
import NIOTLS
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
                    let tooLarge = HeadTooLarge()
                    try operations.addHandler(tooLarge, position: .after(parser))
                    let hot = makeHandler()
                    try operations.addHandler(hot, position: .after(tooLarge))
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
    /// Settings sent after the HTTP/2 preface (Hummingbird's channel sends NIO's defaults).
    let http2Settings: [HTTP2Setting]
    var responder: Responder { http1.responder }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let negotiated = channel.eventLoop.makePromise(of: Negotiated.self)
            let sniffer = HTTPVersionSniffer(result: negotiated) { [http1, http2, http2Settings] isHTTP2 in
                guard isHTTP2 else { return http1.setup(channel: channel, logger: logger).map { .http1($0) } }
                return http2.setup(channel: channel, logger: logger).map { value in
                    channel.sendHTTP2Settings(http2Settings)
                    return .http2(value)
                }
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
/// then has the pipeline set up for that protocol, hands it the bytes and steps aside. Bytes
/// that arrive while the pipeline is being set up are held too and passed on after the first,
/// in order (a request head larger than one read, a 3 KB cookie, arrives in several).
final class HTTPVersionSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    private let result: EventLoopPromise<HTTP1AndH2CChannel.Negotiated>
    private let configure: (Bool) -> EventLoopFuture<HTTP1AndH2CChannel.Negotiated>
    private var buffered: ByteBuffer?
    private enum State { case sniffing, configuring, passing }
    private var state = State.sniffing

    init(result: EventLoopPromise<HTTP1AndH2CChannel.Negotiated>,
         configure: @escaping (Bool) -> EventLoopFuture<HTTP1AndH2CChannel.Negotiated>) {
        self.result = result
        self.configure = configure
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if state == .passing { return context.fireChannelRead(data) }
        // The first read is kept as it is (no copy); a later one is appended to it, the buffer
        // taken out first so that it has one owner and grows in place.
        if var earlier = buffered {
            buffered = nil
            earlier.writeBuffer(&incoming)
            buffered = earlier
        } else {
            buffered = incoming
        }
        guard state == .sniffing, let bytes = buffered?.readableBytesView else { return }
        let count = min(bytes.count, Self.preface.count)
        let matches = bytes.prefix(count).elementsEqual(Self.preface.prefix(count))
        if !matches || count == Self.preface.count { decide(http2: matches, context: context) }
    }

    private func decide(http2: Bool, context: ChannelHandlerContext) {
        state = .configuring
        configure(http2).assumeIsolated().whenComplete { outcome in
            switch outcome {
            case .success(let negotiated):
                self.state = .passing
                self.result.succeed(negotiated)
                if let bytes = self.buffered { context.fireChannelRead(self.wrapInboundOut(bytes)) }
                self.buffered = nil
                context.fireChannelReadComplete()
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            case .failure(let error):
                self.state = .passing
                self.result.fail(error)
                context.close(promise: nil)
            }
        }
    }

    /// Half-closure is on (Hummingbird's servers allow it): a client that connects and closes
    /// without a byte would otherwise hold its descriptor, and its place under the connection cap, for ever.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if state == .sniffing, let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if state == .sniffing { result.fail(ChannelError.eof) }
        state = .passing
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if state == .sniffing {
            state = .passing
            result.fail(error)
            context.close(promise: nil)
            return
        }
        context.fireErrorCaught(error)
    }
}

/// Answers a request head over the decoder's limits (`ServerLimits.maxHeaderLineBytes`,
/// `maxHeadBytes`) with 431 and closes the connection; other parse errors go on to
/// Hummingbird's handler (400).
final class HeadTooLarge: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    static let answer = {
        let body = #"{"error":"request header fields too large: at most 8 KB a line and 32 KB in all"}"#
        return "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
    }()

    private var answered = false

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parse = error as? HTTPParserError, parse == .headerOverflow else { return context.fireErrorCaught(error) }
        guard !answered, let wire = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self) else { return }
        answered = true
        // In wire form below the response encoder: no request reached the handlers above.
        wire.writeAndFlush(NIOAny(ByteBuffer(string: Self.answer))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with hot files answered on the event loop (see `HotFileHandler`), and h2c on
    /// the same port, every connection behind `gate`.
    /// `hotFiles` makes each connection's handler, which keeps its idle timeout.
    static func http1AndH2C(idleTimeout: TimeAmount, gate: ConnectionGate,
                            hotFiles: @escaping @Sendable () -> HotFileHandler) -> HTTPServerBuilder {
        let limits = gate.limits
        return .init { responder in
            let http1 = HTTP1Channel(responder: responder, configuration: .init(idleTimeout: nil, httpDecoderConfiguration: limits.decoder))
            let http2 = HTTP2Channel(responder: responder, configuration: .init(
                idleTimeout: .nanoseconds(idleTimeout.nanoseconds),
                streamConfiguration: .init(additionalChannelHandlers: [StreamPacer()], idleTimeout: idleTimeout,
                                           httpDecoderConfiguration: limits.decoder)))
            return GatedChannel(
                inner: HTTP1AndH2CChannel(http1: HotPathHTTP1Channel(inner: http1, makeHandler: hotFiles), http2: http2,
                                          http2Settings: limits.http2Settings),
                gate: gate, cleartext: true)
        }
    }

    /// HTTPS with HTTP/2 and HTTP/1.1 offered by ALPN, every connection behind `gate` (one over
    /// the cap is closed before its handshake).
    static func tls(_ configuration: TLSConfiguration, idleTimeout: TimeAmount, gate: ConnectionGate) throws -> HTTPServerBuilder {
        let limits = gate.limits
        let channelConfiguration = HTTP2UpgradeChannel.Configuration(
            idleTimeout: .nanoseconds(idleTimeout.nanoseconds),
            streamConfiguration: .init(additionalChannelHandlers: [StreamPacer()], idleTimeout: idleTimeout,
                                       httpDecoderConfiguration: limits.decoder))
        // Fails here, at start, rather than on the first connection.
        _ = try HTTP2UpgradeChannel(tlsConfiguration: configuration, configuration: channelConfiguration, responder: { _, _, _ in })
        return .init { responder in
            let upgrade = try HTTP2UpgradeChannel(tlsConfiguration: configuration, configuration: channelConfiguration, responder: responder)
            return GatedChannel(inner: TLSChannel(inner: upgrade, http2Settings: limits.http2Settings), gate: gate, cleartext: false)
        }
    }
}

/// Hummingbird's HTTPS channel (HTTP/2 or HTTP/1.1 by ALPN), with the server's own HTTP/2
/// settings (`ServerLimits.http2Settings`) sent once the handshake has chosen h2.
struct TLSChannel: HTTPChannelHandler {
    let inner: HTTP2UpgradeChannel
    let http2Settings: [HTTP2Setting]
    var responder: Responder { inner.responder }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP2UpgradeChannel.Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let tls = try channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self)
            try channel.pipeline.syncOperations.addHandler(SettingsAfterHandshake(settings: http2Settings), position: .after(tls))
            return value
        }
    }

    func handle(value: HTTP2UpgradeChannel.Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// Sits after the TLS handler and waits for its handshake event: when ALPN chose h2, and the
/// HTTP/2 pipeline is in place (set up as the event passes on), writes the settings frame.
final class SettingsAfterHandshake: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let settings: [HTTP2Setting]

    init(settings: [HTTP2Setting]) { self.settings = settings }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .handshakeCompleted(let chosen) = event as? TLSUserEvent else { return context.fireUserInboundEventTriggered(event) }
        context.fireUserInboundEventTriggered(event)
        let channel = context.channel
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        guard chosen == "h2" else { return }
        channel.eventLoop.assumeIsolated().execute { [settings] in
            // Only through NIO's HTTP/2 handler: a frame must never reach the TLS handler.
            guard (try? channel.pipeline.syncOperations.handler(type: NIOHTTP2Handler.self)) != nil else { return }
            channel.sendHTTP2Settings(settings)
        }
    }
}

extension Channel {
    /// Sends the server's own HTTP/2 settings on a connection whose HTTP/2 handler is in place
    /// (NIO applies them when the client acknowledges them, as RFC 9113 has it).
    func sendHTTP2Settings(_ settings: [HTTP2Setting]) {
        writeAndFlush(HTTP2Frame(streamID: .rootStream, payload: .settings(.settings(settings))), promise: nil)
    }
}

extension ServerLimits {
    /// NIO's HTTP/1 decoder limits: a longer header line or head is a parse error (431).
    var decoder: HTTP1Channel.Configuration.DecoderConfiguration {
        .init(maxHeaderFieldSize: maxHeaderLineBytes, maxHeaderListSize: maxHeadBytes)
    }

    /// Sent on every h2c connection right after the server's preface.
    var http2Settings: [HTTP2Setting] {
        [HTTP2Setting(parameter: .maxConcurrentStreams, value: maxStreamsPerConnection),
         // Twice the head limit: NIO refuses a larger block outright; up to it, HeadLimitMiddleware answers 431.
         HTTP2Setting(parameter: .maxHeaderListSize, value: 2 * maxHeadBytes)]
    }
}
