import CacheStore
import Hummingbird
import NIOCore

/// `/t/<digest>/<variant>.<ext>` and `/o/<digest>.<ext>`: immutable files, GET and HEAD.
func addFileRoutes(to router: Router<ServerRequestContext>, service: CacheService, metrics: ServerMetrics, accessLog: AccessLog?,
                   streaming: StreamingPolicy) {
    // The patterns only route; `CacheURL` decides what the path names (404 for anything else).
    for method in [HTTPRequest.Method.get, .head] {
        for pattern in ["/t/:digest/:file", "/o/:file"] {
            router.on(RouterPath(pattern), method: method) { request, context in
                guard let url = CacheURL(path: request.uri.path) else { throw ServerError.notFound() }
                var found = service.remembered(url.lookupKey)
                if found == nil { found = try await IndexReads.run { try service.file(for: url) } }
                return try await serveFile(found, request: request, context: context, service: service, metrics: metrics,
                                       accessLog: accessLog, streaming: streaming)
            }
        }
    }
}

/// The answer for a cached file (404 when there is none): 304 for a matching If-None-Match,
/// HEAD without a body, a range, small files from memory, others streamed.
func serveFile(_ file: CacheService.ServedFile?, request: Request, context: ServerRequestContext, service: CacheService,
               metrics: ServerMetrics, accessLog: AccessLog?, streaming: StreamingPolicy) async throws -> Response {
    guard let file else {
        metrics.lookup(hit: false)
        accessLog?.recordMiss()
        throw ServerError.notFound()
    }
    metrics.lookup(hit: true)
    accessLog?.record(file.digest)
    if let warning = service.takeReplicaWarning() { context.logger.warning("\(warning)") }
    var headers = file.headers
    if file.isMatched(by: request.headers[.ifNoneMatch]) {
        return Response(status: .notModified, headers: headers)
    }
    headers[.acceptRanges] = "bytes"
    headers[.contentLength] = String(file.bytes)
    if request.method == .head { return Response(status: .ok, headers: headers) }
    // A range of the file (resuming a large original); If-Range naming another version gets it whole.
    let ifRange = request.headers[.ifRange]
    let range = ifRange == nil || ifRange == file.etag ? ByteRange.answer(request.headers[.range], size: file.bytes) : .whole
    if range == .unsatisfiable {
        return Response(status: .rangeNotSatisfiable, headers: [.contentRange: "bytes */\(file.bytes)", .eTag: file.etag])
    }
    if case .whole = range, let bytes = file.inMemory ?? service.smallFileBytes(file) {
        metrics.served(bytes: file.bytes)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: bytes))
    }
    return try streamed(file, range: range, headers: headers, channel: context.channel, service: service, metrics: metrics,
                        streaming: streaming)
}

/// `file` (or `range` of it) streamed in pieces, never read whole, and only while a slot is
/// free (503 when not). An HTTP/2 stream (its channel's parent is the connection) holds no
/// descriptor while it waits.
func streamed(_ file: CacheService.ServedFile, range: ByteRange.Answer, headers: HTTPFields, channel: any Channel,
              service: CacheService, metrics: ServerMetrics, streaming: StreamingPolicy) throws -> Response {
    let isStream = channel.parent?.parent != nil
    guard let open = StreamedFile(path: file.path, holdDescriptor: !isStream), open.size == file.bytes else {
        service.forget(file)
        throw ServerError.notFound()
    }
    guard let slot = streaming.slots.take() else {
        metrics.streamRefused()
        throw ServerError.unavailable("too many responses in progress; retry shortly", retryAfter: 1)
    }
    var headers = headers
    let (start, count): (Int, Int)
    if case .partial(let part) = range {
        (start, count) = (part.first, part.count)
        headers[.contentLength] = String(part.count)
        headers[.contentRange] = "bytes \(part.first)-\(part.last)/\(file.bytes)"
    } else {
        (start, count) = (0, file.bytes)
    }
    metrics.served(bytes: count)
    let body = open.body(from: start, count: count, slot: slot, channel: channel, turns: streaming.turns, sendTimeout: streaming.sendTimeout,
                         onTimeout: { metrics.streamTimedOut() })
    return Response(status: count == file.bytes ? .ok : .partialContent, headers: headers, body: body)
}
