import NIOCore
import NIOHTTP1

/// HTTP/1.0 connection semantics, which the HTTP types codec above it cannot see (it drops the
/// request's version and answers as HTTP/1.1): a 1.0 request without `Connection: keep-alive`
/// gets `Connection: close` and the connection is closed after its response; one with it gets
/// `Connection: keep-alive` (an HTTP/1.0 client waits for a close otherwise). HTTP/1.1 requests
/// pass untouched. Sits between NIO's HTTP/1 pipeline handler and the codec, where requests
/// arrive one at a time.
final class HTTP10Connections: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Mode { case http11, keepAlive, close }
    /// One per request read and not yet answered, oldest first.
    private var modes = CircularBuffer<Mode>()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) {
            let mode: Mode = (head.version.major, head.version.minor) >= (1, 1) ? .http11 : (head.isKeepAlive ? .keepAlive : .close)
            modes.append(mode)
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where modes.first.map({ $0 != .http11 }) ?? false:
            head.headers.replaceOrAdd(name: "connection", value: modes.first == .keepAlive ? "keep-alive" : "close")
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end where !modes.isEmpty:
            let mode = modes.removeFirst()
            if mode == .close {
                context.writeAndFlush(data, promise: promise)
                context.close(promise: nil)
            } else {
                context.write(data, promise: promise)
            }
        default:
            context.write(data, promise: promise)
        }
    }
}
