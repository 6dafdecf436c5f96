import Hummingbird
import NIOCore

/// Hummingbird's basic context plus the connection (or HTTP/2 stream) the request came on:
/// a streamed file response closes it when its client stops reading.
public struct ServerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
