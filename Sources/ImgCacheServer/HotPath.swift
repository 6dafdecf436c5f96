import CacheStore
import Dispatch
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1

/// Answers requests for remembered files on the event loop, right after NIO's HTTP/1 parser and
/// before anything else of Hummingbird's: a keep-alive `GET`/`HEAD` of `/t/<sha256>/<variant>.<ext>`
/// or `/o/<sha256>.<ext>` whose lookup is already in memory (`CacheService.hotFile`). The head is
/// the entry's ready-made bytes plus a `Date` line, written below NIO's response encoder; a small
/// file's body comes from memory, a larger one's goes to the socket with `sendfile` (a
/// `FileRegion`), so no byte of it passes through user space. Everything else (ranges,
/// `Connection: close`, HTTP/1.0 without keep-alive), and every request while an earlier one on
/// the connection is still being answered by the router (so responses keep their order), goes
/// on to the router. Headers, metrics, the access log and the request log line are the router's.
///
/// Hummingbird's handlers above and NIO's encoder below see only the routed requests, so this
/// handler keeps the connection's idle timeout (the connection state handler's is off), holds
/// back a graceful shutdown's quiesce event until a hot answer in progress is written, and
/// keeps the routed requests' methods to leave the body out of the answer to a HEAD (NIO's
/// encoder would, were its decoder to report every method; `HotPathHTTP1Channel` gives it one
/// that does not, as it would pair a hot request's method with a routed answer).
final class HotFileHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// What to send when the current (intercepted) request ends.
    private struct Answer {
        /// Status line and headers, without the Date line and the blank line.
        var head: ByteBuffer
        var body: Body
        enum Body { case none, bytes(ByteBuffer), file(NIOFileHandle, count: Int) }
    }

    private let service: CacheService
    private let metrics: ServerMetrics
    private let accessLog: AccessLog?
    private let logger: Logger
    private let serverName: String?
    private let idleTimeout: TimeAmount?
    /// The methods of requests passed to the router and not yet answered, oldest first.
    private var routed = CircularBuffer<HTTPMethod>()
    /// The router's answer being written is to a HEAD: its body parts are dropped.
    private var droppingBody = false
    /// Between a routed request's head and its end (its body is being read).
    private var readingRouted = false
    private var answer: Answer?
    /// A quiesce event held back while a hot answer is in progress.
    private var quiesceAfterAnswer = false
    private var date = HTTPDateLine()
    private var lastActive = NIODeadline.now()
    private var idleCheck: Scheduled<Void>?
    /// NIO's response encoder's context: a hot answer is already in wire form, so it is written
    /// through this context, to the socket below the encoder.
    private var wire: ChannelHandlerContext?

    init(service: CacheService, metrics: ServerMetrics, accessLog: AccessLog?, logger: Logger, serverName: String?,
         idleTimeout: TimeAmount?) {
        self.service = service
        self.metrics = metrics
        self.accessLog = accessLog
        self.logger = logger
        self.serverName = serverName
        self.idleTimeout = idleTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        wire = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self)
        if context.channel.isActive { armIdleTimer(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        armIdleTimer(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            if routed.isEmpty, answer == nil, let response = respond(to: request) {
                answer = response
                return
            }
            routed.append(request.method)
            readingRouted = true
            context.fireChannelRead(data)
        case .body:
            if answer == nil { context.fireChannelRead(data) }
        case .end:
            guard let answer else {
                readingRouted = false
                context.fireChannelRead(data)
                return
            }
            self.answer = nil
            send(answer, context: context)
        }
    }

    private func send(_ answer: Answer, context: ChannelHandlerContext) {
        guard let wire else { return }  // `respond` answers only when it is there
        var head = answer.head
        var dateLine = date.current()
        head.writeBuffer(&dateLine)
        let written = context.eventLoop.makePromise(of: Void.self)
        switch answer.body {
        case .none:
            wire.writeAndFlush(NIOAny(head), promise: written)
        case .bytes(let bytes):
            wire.write(NIOAny(head), promise: nil)
            wire.writeAndFlush(NIOAny(bytes), promise: written)
        case .file(let handle, let count):
            // Corked while the head and the file go out, as nginx's tcp_nopush: full segments,
            // the head in the first, and the rest pushed when the file is written.
            let options = context.channel.syncOptions
            try? options?.setOption(Self.cork, value: 1)
            wire.write(NIOAny(head), promise: nil)
            writeFile(handle, count: count, to: wire, written: written)
            written.futureResult.assumeIsolated().whenComplete { _ in
                try? options?.setOption(Self.cork, value: 0)
                try? handle.close()
            }
        }
        lastActive = .now()
        written.futureResult.assumeIsolated().whenComplete { _ in self.lastActive = .now() }
        if quiesceAfterAnswer {
            quiesceAfterAnswer = false
            written.futureResult.assumeIsolated().whenComplete { _ in
                context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            }
        }
    }

    /// The router's answers, in the order of the requests they answer.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            // A 1xx other than 101 is followed by the final head of the same answer.
            if head.status.code >= 200 || head.status.code == 101 { droppingBody = routed.first == .HEAD }
        case .body where droppingBody:
            promise?.succeed(())
            return
        case .body:
            break
        case .end:
            if !routed.isEmpty { routed.removeFirst() }
            droppingBody = false
            lastActive = .now()
        }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Hummingbird's handler closes at once when it has no routed request in progress.
        if event is ChannelShouldQuiesceEvent, answer != nil {
            quiesceAfterAnswer = true
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// The whole answer when the file's lookup is remembered, else nil (the router answers).
    private func respond(to request: HTTPRequestHead) -> Answer? {
        // `Connection: close` and HTTP/1.0 without keep-alive are the router's to honour (it closes after).
        guard request.method == .GET || request.method == .HEAD, request.isKeepAlive, wire != nil,
              request.version == .http1_1 || request.version == .http1_0,
              !request.headers.contains(name: "range"),  // ranges are the router's
              let hot = service.hotResponses.response(for: request.uri, service: service, serverName: serverName) else { return nil }
        let notModified = hot.file.isMatched(by: Self.ifNoneMatch(request.headers))
        var body = Answer.Body.none
        if !notModified, request.method == .GET {
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
        RequestLog.line(logger, method: "\(request.method)", uri: request.uri)
        if !notModified, request.method == .GET { metrics.served(bytes: hot.file.bytes) }
        var head = notModified ? hot.notModified : hot.ok
        // An HTTP/1.0 client keeps the connection only when told so.
        if request.version == .http1_0 { head.writeString("Connection: keep-alive\r\n") }
        return Answer(head: head, body: notModified ? .none : body)
    }

    /// If-None-Match as one value: several header lines are one comma-separated list.
    private static func ifNoneMatch(_ headers: HTTPHeaders) -> String? {
        let values = headers["if-none-match"]
        return values.count <= 1 ? values.first : values.joined(separator: ", ")
    }

    /// A file larger than this goes out as several regions; each one written counts as progress
    /// for the idle timeout (a reader taking fewer bytes than this per timeout is closed).
    static let sendChunk = 256 * 1024

    /// The file as `FileRegion`s of `sendChunk` bytes (sendfile each), `written` completed with the last.
    private func writeFile(_ handle: NIOFileHandle, count: Int, to wire: ChannelHandlerContext, written: EventLoopPromise<Void>) {
        var offset = 0
        repeat {
            let end = min(count, offset + Self.sendChunk)
            let promise = end == count ? written : wire.eventLoop.makePromise(of: Void.self)
            if end < count { promise.futureResult.assumeIsolated().whenSuccess { self.lastActive = .now() } }
            wire.write(NIOAny(FileRegion(fileHandle: handle, readerIndex: offset, endIndex: end)), promise: promise)
            offset = end
        } while offset < count
        wire.flush()
    }

    private static let cork = ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: TCP_CORK))

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

    // MARK: Idle timeout

    /// Closes the connection once nothing has moved on it for `idleTimeout`: no hot answer (or
    /// `sendChunk` of a file's) written, no routed answer finished, and the router not answering
    /// a request it has read whole (one whose body is still arriving counts as idle, so a slow
    /// upload cannot hold the connection, nor can a reader that stops reading, as nginx's
    /// send_timeout).
    private func armIdleTimer(_ context: ChannelHandlerContext) {
        lastActive = .now()
        if let idleTimeout { scheduleIdleCheck(context, at: lastActive + idleTimeout) }
    }

    private func scheduleIdleCheck(_ context: ChannelHandlerContext, at deadline: NIODeadline) {
        guard let idleTimeout, idleCheck == nil else { return }
        idleCheck = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: deadline) { [self] in
            idleCheck = nil
            let due = lastActive + idleTimeout
            // A hot request whose body is still arriving (`answer` waiting for its end) is idle too.
            if !routed.isEmpty && !readingRouted {
                scheduleIdleCheck(context, at: .now() + idleTimeout)  // the router is answering
            } else if NIODeadline.now() >= due {
                logger.debug("closing a connection idle for \(idleTimeout.nanoseconds / 1_000_000_000) s")
                context.close(promise: nil)
            } else {
                scheduleIdleCheck(context, at: due)
            }
        }
    }

    // MARK: Access ledger and counters

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
        wire = nil
        idleCheck?.cancel()
        idleCheck = nil
    }

    /// Request counters by (route, status), resolved once per connection.
    private var counters: [Int: Metrics.Counter] = [:]
    private func counter(_ route: String, _ status: Int) -> Metrics.Counter {
        let key = (route == "thumbnail" ? 0 : route == "original" ? 1 : 2) * 1000 + status
        if let counter = counters[key] { return counter }
        let counter = metrics.requestCounter(route: route, status: status)
        counters[key] = counter
        return counter
    }
}
