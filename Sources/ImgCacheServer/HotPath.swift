import CacheStore
import Dispatch
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Answers requests for remembered files on the event loop, without Hummingbird's per-request
/// task, router and middleware: a `GET`/`HEAD` of `/t/<sha256>/<variant>.<ext>` or
/// `/o/<sha256>.<ext>` whose lookup is already in memory (`CacheService.hotFile`). A small file's
/// bytes come from memory; a larger one is opened here and its body goes to the socket with
/// `sendfile` (a `FileRegion` written below the HTTP types codec, straight to NIO's encoder), so
/// no byte of it passes through user space. Everything else (ranges, `Connection: close`), and
/// every request while an earlier one on the connection is still being answered by the router
/// (so responses keep their order), goes on to the router.
///
/// It sits after Hummingbird's connection state handler, which therefore still sees every
/// request and response (idle timeout, `Connection: close`). Headers, metrics, the access log
/// and the request log line are the router's.
final class HotFileHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// What to send when the current (intercepted) request ends.
    private struct Answer {
        var head: HTTPResponse
        var body: Body
        enum Body { case none, bytes(ByteBuffer), file(NIOFileHandle, count: Int) }
    }

    private let service: CacheService
    private let metrics: ServerMetrics
    private let accessLog: AccessLog?
    private let logger: Logger
    private let serverName: String?
    /// Requests passed to the router and not yet answered.
    private var forwarded = 0
    private var answer: Answer?
    /// The HTTP types codec's context: a file's body is written through it, so it reaches NIO's
    /// HTTP/1 encoder as a `FileRegion` (the codec above it only carries byte buffers).
    private var codec: ChannelHandlerContext?

    init(service: CacheService, metrics: ServerMetrics, accessLog: AccessLog?, logger: Logger, serverName: String?) {
        self.service = service
        self.metrics = metrics
        self.accessLog = accessLog
        self.logger = logger
        self.serverName = serverName
    }

    func handlerAdded(context: ChannelHandlerContext) {
        codec = try? context.pipeline.syncOperations.context(handlerType: HTTP1ToHTTPServerCodec.self)
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
            guard let answer else {
                context.fireChannelRead(data)
                return
            }
            self.answer = nil
            send(answer, context: context)
        }
    }

    private func send(_ answer: Answer, context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.head(answer.head)), promise: nil)
        switch answer.body {
        case .none:
            break
        case .bytes(let bytes):
            context.write(wrapOutboundOut(.body(bytes)), promise: nil)
        case .file(let handle, let count):
            let region = FileRegion(fileHandle: handle, readerIndex: 0, endIndex: count)
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.whenComplete { _ in try? handle.close() }
            codec!.write(NIOAny(HTTPServerResponsePart.body(.fileRegion(region))), promise: written)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { forwarded = max(0, forwarded - 1) }
        context.write(data, promise: promise)
    }

    /// The whole answer when the file's lookup is remembered, else nil (the router answers).
    private func respond(to request: HTTPRequest) -> Answer? {
        // `Connection: close` is the router's to honour (it closes after the response).
        guard request.method == .get || request.method == .head, let path = request.path,
              request.headerFields[.connection].map({ !$0.lowercased().contains("close") }) ?? true,
              request.headerFields[.range] == nil,  // ranges are the router's
              let hot = service.hotResponses.response(for: path, service: service, serverName: serverName) else { return nil }
        let notModified = hot.file.isMatched(by: request.headerFields[.ifNoneMatch])
        var body = Answer.Body.none
        if !notModified, request.method == .get {
            if let bytes = hot.body {
                body = .bytes(bytes)
            } else {
                // Opened now, before the answer starts: a prune's unlink after this cannot cut it short.
                guard let handle = Self.open(hot.file) else {
                    service.forget(hot.file)
                    return nil  // the router looks it up again (404 when it was pruned)
                }
                body = .file(handle, count: hot.file.bytes)
            }
        }
        metrics.lookup(hit: true)
        recordAccess(hot.file.digest)
        counter(hot.route, notModified ? 304 : 200).increment()
        if logger.logLevel <= .info {
            logger.info("Request", metadata: ["hb.request.method": "\(request.method)", "hb.request.path": "\(path)"])
        }
        if notModified { return Answer(head: hot.notModified, body: .none) }
        if request.method == .get { metrics.served(bytes: hot.file.bytes) }
        return Answer(head: hot.ok, body: body)
    }

    /// The file, opened for reading, when it is a regular file of the size the index recorded.
    private static func open(_ file: CacheService.ServedFile) -> NIOFileHandle? {
        let descriptor = Glibc.open(file.path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        var status = stat()
        guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG, Int(status.st_size) == file.bytes else {
            Glibc.close(descriptor)
            return nil
        }
        return NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: descriptor)
    }

    /// The access ledger keeps a time per image for LRU eviction: once a second per connection
    /// and image is plenty, and saves a lock and a clock read on most requests.
    private func recordAccess(_ digest: String) {
        unrecordedHits += 1
        let now = DispatchTime.now().uptimeNanoseconds
        if digest != lastRecorded.digest || now &- lastRecorded.at > 1_000_000_000 {
            accessLog?.record(digest, hits: unrecordedHits)
            unrecordedHits = 0
            lastRecorded = (digest, now)
        }
    }

    private var lastRecorded: (digest: String, at: UInt64) = ("", 0)
    private var unrecordedHits = 0

    func handlerRemoved(context: ChannelHandlerContext) {
        if unrecordedHits > 0 { accessLog?.recordHits(unrecordedHits) }
        unrecordedHits = 0
        // A connection that closed between a request's head and its end: the file it opened.
        if case .file(let handle, _) = answer?.body { try? handle.close() }
        answer = nil
        codec = nil
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
