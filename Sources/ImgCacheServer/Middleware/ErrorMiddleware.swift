import CacheStore
import Foundation
import Hummingbird
import Logging

/// Counts every answer by route and status, and turns every error a handler or a middleware
/// below throws into its answer (`ServerError.answering`: the one mapping of errors to
/// statuses). Every 5xx is logged once, here, with its cause; the hot path never answers one.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let route = RouteName.of(request.uri.path)
        do {
            let response = try await next(request, context)
            metrics.request(route: route, status: response.status.code)
            return response
        } catch {
            let answer = ServerError.answering(error)
            metrics.request(route: route, status: answer.status.code)
            if answer.status.code >= 500 {
                context.logger.error("\(request.method) \(RequestLog.redacted(request.uri.path)) answered \(answer.status.code): \(answer.cause ?? error)")
            }
            return answer.response
        }
    }
}

/// A small fixed set of route names for metrics (never the raw path: unbounded label values).
enum RouteName {
    static func of(_ path: String) -> String {
        if let file = CacheURL.route(ofPath: path) { return file }
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
                throw ServerError(ServerError.headersTooLarge,
                                  "request header fields too large: at most \(limits.maxHeaderLineBytes / 1024) KB a line "
                                    + "and \(limits.maxHeadBytes / 1024) KB in all")
            }
        }
        return try await next(request, context)
    }
}
