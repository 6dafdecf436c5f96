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
/// the entry's ready-made one plus a `Date`, written to NIO's response encoder (which pairs each
/// response with its request's method, so every request it has seen must be answered through
/// it); a small file's body comes from memory, a larger one's goes to the socket with `sendfile`
/// (a `FileRegion`), so no byte of it passes through user space. Everything else (ranges,
/// `Connection: close`, HTTP/1.0 without keep-alive), and every request while an earlier one on
/// the connection is still being answered by the router (so responses keep their order), goes
/// on to the router. Headers, metrics, the access log and the request log line are the router's.
///
/// Hummingbird's connection state handler above sees only the routed requests, so this handler
/// keeps the connection's idle timeout (that handler's is off) and holds back a graceful
/// shutdown's quiesce event until a hot answer in progress is written.
final class HotFileHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// What to send when the current (intercepted) request ends.
    private struct Answer {
        var head: HTTPResponseHead
        var body: Body
        enum Body { case none, bytes(ByteBuffer), file(NIOFileHandle, count: Int) }
    }

    private let service: CacheService
    private let metrics: ServerMetrics
    private let accessLog: AccessLog?
    private let logger: Logger
    private let serverName: String?
    private let idleTimeout: TimeAmount?
    /// Requests passed to the router and not yet answered.
    private var forwarded = 0
    /// Between a routed request's head and its end (its body is being read).
    private var readingRouted = false
    private var answer: Answer?
    /// Hot answers handed to the socket and not yet all written (a large file to a slow reader).
    private var unwritten = 0
    /// A quiesce event held back while a hot answer is in progress.
    private var quiesceAfterAnswer = false
    private var date = HTTPDate()
    private var lastActive = NIODeadline.now()
    private var idleCheck: Scheduled<Void>?

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
        if context.channel.isActive { armIdleTimer(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        armIdleTimer(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            if forwarded == 0, answer == nil, let response = respond(to: request) {
                answer = response
                return
            }
            forwarded += 1
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
        // The promise goes with the last bytes, not with `.end`: NIO's encoder turns a promise on
        // the end of an unchunked response into a zero-length write of its own (a syscall).
        let written = context.eventLoop.makePromise(of: Void.self)
        switch answer.body {
        case .none:
            context.write(wrapOutboundOut(.head(answer.head)), promise: written)
        case .bytes(let bytes):
            context.write(wrapOutboundOut(.head(answer.head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(bytes))), promise: written)
        case .file(let handle, let count):
            // Corked while the head and the file go out, as nginx's tcp_nopush: full segments,
            // the head in the first, and the rest pushed when the file is written.
            let options = context.channel.syncOptions
            try? options?.setOption(Self.cork, value: 1)
            context.write(wrapOutboundOut(.head(answer.head)), promise: nil)
            context.write(wrapOutboundOut(.body(.fileRegion(FileRegion(fileHandle: handle, readerIndex: 0, endIndex: count)))),
                          promise: written)
            written.futureResult.assumeIsolated().whenComplete { _ in
                try? options?.setOption(Self.cork, value: 0)
                try? handle.close()
            }
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        // Busy until the last byte is written: a slow reader of a large file is not idle.
        unwritten += 1
        written.futureResult.assumeIsolated().whenComplete { _ in
            self.unwritten -= 1
            self.lastActive = .now()
        }
        if quiesceAfterAnswer {
            quiesceAfterAnswer = false
            written.futureResult.assumeIsolated().whenComplete { _ in
                context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            }
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            forwarded = max(0, forwarded - 1)
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
        guard request.method == .GET || request.method == .HEAD, request.isKeepAlive,
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
        if logger.logLevel <= .info {
            logger.info("Request", metadata: ["hb.request.method": "\(request.method)", "hb.request.path": "\(request.uri)"])
        }
        if !notModified, request.method == .GET { metrics.served(bytes: hot.file.bytes) }
        var head = notModified ? hot.notModified : hot.ok
        head.headers.add(name: "Date", value: date.current())
        // An HTTP/1.0 client keeps the connection only when told so.
        if request.version == .http1_0 { head.headers.add(name: "Connection", value: "keep-alive") }
        return Answer(head: head, body: notModified ? .none : body)
    }

    /// If-None-Match as one value: several header lines are one comma-separated list.
    private static func ifNoneMatch(_ headers: HTTPHeaders) -> String? {
        let values = headers["if-none-match"]
        return values.count <= 1 ? values.first : values.joined(separator: ", ")
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

    /// Closes the connection once it has been idle for `idleTimeout`: no answer finished for that
    /// long and none being made or written (a routed request whose body is still arriving counts
    /// as idle, so a slow upload cannot hold the connection).
    private func armIdleTimer(_ context: ChannelHandlerContext) {
        lastActive = .now()
        if let idleTimeout { scheduleIdleCheck(context, at: lastActive + idleTimeout) }
    }

    private func scheduleIdleCheck(_ context: ChannelHandlerContext, at deadline: NIODeadline) {
        guard let idleTimeout, idleCheck == nil else { return }
        idleCheck = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: deadline) { [self] in
            idleCheck = nil
            let due = lastActive + idleTimeout
            if forwarded > 0 && !readingRouted || answer != nil || unwritten > 0 {
                scheduleIdleCheck(context, at: .now() + idleTimeout)  // an answer is on its way
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
        idleCheck?.cancel()
        idleCheck = nil
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
