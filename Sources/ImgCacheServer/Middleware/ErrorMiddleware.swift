import CacheStore
import Foundation
import Hummingbird
import Logging

/// Counts every answer by route and status, and turns every error a handler throws into an
/// answer with a JSON body: an `HTTPError` keeps its status; an index or store failure is
/// 503 (the replica cannot serve now; another may), anything else 500. A 5xx says to the
/// client what failed, never the internal detail, and is logged once with its cause.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let route = RouteName.of(request.uri.path)
        do {
            let response = try await next(request, context)
            metrics.request(route: route, status: response.status.code)
            return response
        } catch let error as HTTPError {
            metrics.request(route: route, status: error.status.code)
            if error.status.code >= 500 { log(error, request, context, status: error.status) }
            throw error
        } catch {
            let (status, message) = Self.answer(for: error)
            metrics.request(route: route, status: status.code)
            log(error, request, context, status: status)
            return jsonError(status, message, headers: status == .serviceUnavailable ? [.retryAfter: "5"] : [:])
        }
    }

    private func log(_ error: any Error, _ request: Request, _ context: Context, status: HTTPResponse.Status) {
        context.logger.error("\(request.method) \(RequestLog.redacted(request.uri.path)) answered \(status.code): \(error)")
    }

    /// The status and the client's message for an error that is not an `HTTPError`.
    static func answer(for error: any Error) -> (HTTPResponse.Status, String) {
        guard let cacheError = error as? CacheError else { return (.internalServerError, "internal error; it has been logged") }
        if cacheError.code == .database { return (.serviceUnavailable, "the cache index cannot be read now; retry shortly") }
        return (.serviceUnavailable, "the cache's files cannot be read now; retry shortly")
    }
}

/// A small fixed set of route names for metrics (never the raw path: unbounded label values).
enum RouteName {
    static func of(_ path: String) -> String {
        if path.hasPrefix("/t/") { return "thumbnail" }
        if path.hasPrefix("/o/") { return "original" }
        if path.hasPrefix("/images/") { return "dashboard" }
        switch path {
        case "/v1/image": return "image"
        case "/v1/manifest": return "manifest"
        case "/healthz": return "healthz"
        case "/readyz": return "readyz"
        case "/metrics": return "metrics"
        case "/", "/images", "/failures", "/mismatches": return "dashboard"
        default: return "other"
        }
    }
}

/// HTTP/2's request heads under the same rule as HTTP/1.1's decoder (a header line of at most
/// `maxHeaderLineBytes`, a head of at most `maxHeadBytes`): 431 otherwise. NIO's HTTP/2
/// handler refuses heads over twice the limit before they get here.
struct HeadLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let limits: ServerLimits

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var total = 0
        for field in request.headers {
            let line = field.name.rawName.utf8.count + field.value.utf8.count
            total += line
            if line > limits.maxHeaderLineBytes || total > limits.maxHeadBytes {
                return jsonError(.init(code: 431, reasonPhrase: "Request Header Fields Too Large"),
                                 "request header fields too large: at most \(limits.maxHeaderLineBytes / 1024) KB a line "
                                    + "and \(limits.maxHeadBytes / 1024) KB in all")
            }
        }
        return try await next(request, context)
    }
}
