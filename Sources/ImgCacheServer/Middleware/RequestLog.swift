import Hummingbird
import Logging

/// One line per request at .info (the logger's level decides whether it shows), the path with
/// every secret in its query (`token=`) redacted: a log is read by more people than the
/// dashboard's token is meant for.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        RequestLog.line(context.logger, method: request.method.rawValue, uri: request.uri.description)
        return try await next(request, context)
    }
}

enum RequestLog {
    /// The access-log line, the same whichever path answers (router or hot path).
    /// The texts are made only when the line is written (the hot path answers thousands of
    /// requests a second with the log off).
    @inline(__always)
    static func line(_ logger: Logger, method: @autoclosure () -> String, uri: @autoclosure () -> String) {
        guard logger.logLevel <= .info else { return }
        logger.info("Request", metadata: ["hb.request.method": .string(method()), "hb.request.path": .string(redacted(uri()))])
    }

    /// Query parameters whose values never reach a log line.
    static let secretParameters: Set<Substring> = ["token", "access_token", "signature", "password"]

    /// `uri` with the value of every secret query parameter replaced by `REDACTED`.
    static func redacted(_ uri: String) -> String {
        guard let question = uri.firstIndex(of: "?") else { return uri }
        let query = uri[uri.index(after: question)...].split(separator: "&", omittingEmptySubsequences: false).map { pair in
            let name = pair.prefix { $0 != "=" }
            return secretParameters.contains(name.lowercased()[...]) && name.count < pair.count ? "\(name)=REDACTED" : String(pair)
        }
        return uri[...question] + query.joined(separator: "&")
    }
}
