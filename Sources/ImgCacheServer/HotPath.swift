import CacheStore
import Dispatch
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import Metrics
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Answers requests for hot files on the event loop, without Hummingbird's per-request task,
/// router and middleware: a `GET`/`HEAD` of `/t/<sha256>/<variant>.<ext>` or `/o/<sha256>.<ext>`
/// whose lookup and bytes are already in memory (`CacheService.hotFile`). Everything else
/// (including `Connection: close`), and every request while an earlier one on the connection is
/// still being answered by the router (so responses keep their order), goes on to the router.
///
/// It sits after Hummingbird's connection state handler, which therefore still sees every
/// request and response (idle timeout, `Connection: close`). Headers, metrics, the access log
/// and the request log line are the router's.
final class HotFileHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let service: CacheService
    private let metrics: ServerMetrics
    private let accessLog: AccessLog?
    private let logger: Logger
    private let serverName: String?
    /// Requests passed to the router and not yet answered.
    private var forwarded = 0
    /// The response to send when the current (intercepted) request ends.
    private var answer: (head: HTTPResponse, body: ByteBuffer?)?

    init(service: CacheService, metrics: ServerMetrics, accessLog: AccessLog?, logger: Logger, serverName: String?) {
        self.service = service
        self.metrics = metrics
        self.accessLog = accessLog
        self.logger = logger
        self.serverName = serverName
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch part {
        case .head(let request):
            if forwarded == 0, answer == nil, let response = respond(to: request) {
                answer = response
                return
            }
            forwarded += 1
            context.fireChannelRead(data)
        case .body:
            if answer == nil { context.fireChannelRead(data) }
        case .end:
            guard let (head, body) = answer else {
                context.fireChannelRead(data)
                return
            }
            answer = nil
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            if let body { context.write(wrapOutboundOut(.body(body)), promise: nil) }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { forwarded = max(0, forwarded - 1) }
        context.write(data, promise: promise)
    }

    /// The whole response when the file is hot, else nil (the router answers).
    private func respond(to request: HTTPRequest) -> (head: HTTPResponse, body: ByteBuffer?)? {
        // `Connection: close` is the router's to honour (it closes after the response).
        guard request.method == .get || request.method == .head, let path = request.path,
              request.headerFields[.connection].map({ !$0.lowercased().contains("close") }) ?? true,
              request.headerFields[.range] == nil,  // ranges are the router's
              let hot = service.hotResponses.response(for: path, service: service, serverName: serverName) else { return nil }
        metrics.lookup(hit: true)
        // The access ledger keeps a time per image for LRU eviction: once a second per connection
        // and image is plenty, and saves a lock and a clock read on most requests.
        unrecordedHits += 1
        let now = DispatchTime.now().uptimeNanoseconds
        if hot.file.digest != lastRecorded.digest || now &- lastRecorded.at > 1_000_000_000 {
            accessLog?.record(hot.file.digest, hits: unrecordedHits)
            unrecordedHits = 0
            lastRecorded = (hot.file.digest, now)
        }
        let notModified = hot.file.isMatched(by: request.headerFields[.ifNoneMatch])
        let status = notModified ? 304 : 200
        counter(hot.route, status).increment()
        if logger.logLevel <= .info {
            logger.info("Request", metadata: ["hb.request.method": "\(request.method)", "hb.request.path": "\(path)"])
        }
        if notModified { return (hot.notModified, nil) }
        if request.method == .head { return (hot.ok, nil) }
        metrics.served(bytes: hot.body.readableBytes)
        return (hot.ok, hot.body)
    }

    private var lastRecorded: (digest: String, at: UInt64) = ("", 0)
    private var unrecordedHits = 0

    func handlerRemoved(context: ChannelHandlerContext) {
        if unrecordedHits > 0 { accessLog?.recordHits(unrecordedHits) }
        unrecordedHits = 0
    }

    /// Request counters by (route, status), resolved once per connection.
    private var counters: [Int: Metrics.Counter] = [:]
    private func counter(_ route: String, _ status: Int) -> Metrics.Counter {
        let key = (route == "thumbnail" ? 0 : 1) * 1000 + status
        if let counter = counters[key] { return counter }
        let counter = metrics.requestCounter(route: route, status: status)
        counters[key] = counter
        return counter
    }
}

/// Complete responses for hot files, keyed by the request path, built once: the hot path
/// then costs a dictionary lookup. Emptied with the service's other caches (after a prune).
public final class HotResponses: Sendable {
    struct Entry: Sendable {
        var route: String
        var file: CacheService.ServedFile
        var ok: HTTPResponse
        var notModified: HTTPResponse
        var body: ByteBuffer
    }
    private let entries = Mutex<[String: Entry]>([:])
    private static let maxEntries = 10_000

    func removeAll() { entries.withLock { $0.removeAll() } }

    /// How many responses are ready (for tests and diagnostics).
    public var count: Int { entries.withLock { $0.count } }

    /// The entry for `path` (`/t/<digest>/<file>` or `/o/<file>`, nothing else) when its lookup
    /// and bytes are in memory; never touches the index or the disk.
    func response(for path: String, service: CacheService, serverName: String?) -> Entry? {
        if let entry = entries.withLock({ $0[path] }) { return entry }
        let utf8 = path.utf8
        guard utf8.count <= 200, !utf8.contains(UInt8(ascii: "?")), !utf8.contains(UInt8(ascii: "%")) else { return nil }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        let route: String, key: String
        if parts.count == 4, parts[0].isEmpty, parts[1] == "t" {
            (route, key) = ("thumbnail", "t/\(parts[2])/\(parts[3])")
        } else if parts.count == 3, parts[0].isEmpty, parts[1] == "o" {
            (route, key) = ("original", "o/\(parts[2])")
        } else {
            return nil
        }
        guard let (file, bytes) = service.hotFile(key) else { return nil }
        var headers = file.headers
        if let serverName { headers[.server] = serverName }
        let notModified = HTTPResponse(status: .notModified, headerFields: headers)
        headers[.acceptRanges] = "bytes"
        headers[.contentLength] = String(bytes.readableBytes)
        let entry = Entry(route: route, file: file,
                          ok: HTTPResponse(status: .ok, headerFields: headers), notModified: notModified, body: bytes)
        entries.withLock { entries in
            if entries.count >= Self.maxEntries { entries.removeAll(keepingCapacity: true) }
            entries[path] = entry
        }
        return entry
    }
}

/// Hummingbird's HTTP/1.1 channel with `HotFileHandler` after its connection state handler.
struct HotPathHTTP1Channel: HTTPChannelHandler {
    typealias Value = HTTP1Channel.Value
    let inner: HTTP1Channel
    let makeHandler: @Sendable () -> HotFileHandler

    var responder: Responder { inner.responder }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let state = try channel.pipeline.syncOperations.handler(type: HTTPConnectionStateHandler.self)
            try channel.pipeline.syncOperations.addHandler(makeHandler(), position: .after(state))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with hot files answered on the event loop (see `HotFileHandler`).
    static func http1(configuration: HTTP1Channel.Configuration, hotFiles: @escaping @Sendable () -> HotFileHandler) -> HTTPServerBuilder {
        .init { responder in
            HotPathHTTP1Channel(inner: HTTP1Channel(responder: responder, configuration: configuration), makeHandler: hotFiles)
        }
    }
}
