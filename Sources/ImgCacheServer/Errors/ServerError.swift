import CacheStore
import Foundation
import Hummingbird

/// An error answer, in Hummingbird's `HTTPResponseError` model: the status it carries, the
/// message the client reads (`{"error": "…"}`, or no body), extra headers, and the cause the
/// log line names. `answering` is the one place where any error a handler throws becomes a
/// status; `ErrorMiddleware` counts and logs every answer it makes.
public struct ServerError: HTTPResponseError, CustomStringConvertible {
    public var status: HTTPResponse.Status
    /// What the client is told; nil for a bodiless answer (a file that is not there).
    public var message: String?
    public var headers: HTTPFields
    /// The error underneath, for the log line (never the client).
    public var cause: (any Error)?

    public init(_ status: HTTPResponse.Status, _ message: String?, headers: HTTPFields = [:], cause: (any Error)? = nil) {
        self.status = status
        self.message = message
        self.headers = headers
        self.cause = cause
    }

    static func badRequest(_ message: String) -> ServerError { ServerError(.badRequest, message) }

    static func notFound(_ message: String? = nil) -> ServerError { ServerError(.notFound, message) }

    /// 503 with Retry-After: a limit is reached, or a backend cannot answer now.
    static func unavailable(_ message: String, retryAfter seconds: Int, cause: (any Error)? = nil) -> ServerError {
        ServerError(.serviceUnavailable, message, headers: [.retryAfter: String(seconds)], cause: cause)
    }

    static let headersTooLarge = HTTPResponse.Status(code: 431, reasonPhrase: "Request Header Fields Too Large")

    /// Any error as the answer it gets: its own status for a `ServerError` or Hummingbird's
    /// `HTTPError`; 503 for an index or store that cannot be read now (another replica may
    /// serve); 500 for anything else. A 5xx tells the client what failed, never the detail.
    public static func answering(_ error: any Error) -> ServerError {
        switch error {
        case let answer as ServerError:
            return answer
        case let http as HTTPError:
            return ServerError(http.status, http.body, headers: http.headers)
        case let cache as CacheError where cache.code == .database:
            return .unavailable("the cache index cannot be read now; retry shortly", retryAfter: 5, cause: cache)
        case let cache as CacheError:
            return .unavailable("the cache's files cannot be read now; retry shortly", retryAfter: 5, cause: cache)
        default:
            return ServerError(.internalServerError, "internal error; it has been logged", cause: error)
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response { response }

    /// The answer: `{"error": message}` as JSON, or no body.
    var response: Response {
        var fields = headers
        guard let message else { return Response(status: status, headers: fields) }
        let body = (try? JSONEncoder().encode(["error": message])) ?? Data()
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(data: body)))
    }

    public var description: String {
        "\(status.code) \(message ?? status.reasonPhrase)" + (cause.map { ": \($0)" } ?? "")
    }
}
