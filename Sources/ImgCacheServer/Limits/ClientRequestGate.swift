import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// Behind a reverse proxy every connection comes from the proxy, so the per-client cap on
/// connections would cap the proxy. With `ServerLimits.clientAddressHeader` set (e.g.
/// `X-Forwarded-For`), the cap applies instead to each client's requests in progress, the
/// client being the address the proxy put in that header; a request over it gets 503 with
/// Retry-After. A request holds its place until its response body has been written (or dropped).
final class ClientRequestGate: Sendable {
    let header: HTTPField.Name
    let limit: Int
    private let metrics: ServerMetrics
    private let counts = Mutex(CountsByKey<String>())

    /// Nil unless the limits name a header and set a per-client cap.
    init?(limits: ServerLimits, metrics: ServerMetrics) {
        guard let name = limits.clientAddressHeader, let header = HTTPField.Name(name), limits.maxConnectionsPerClient > 0 else {
            return nil
        }
        self.header = header
        limit = limits.maxConnectionsPerClient
        self.metrics = metrics
    }

    /// The client a header value names: the last entry of a list (the one the nearest proxy,
    /// the trusted one, added; entries before it are whatever the client claimed), the `for=`
    /// parameter of a `Forwarded` entry, without quotes, brackets or port.
    static func client(in value: String) -> String? {
        guard var entry = value.split(separator: ",").last.map({ String($0.trimmingCharacters(in: .whitespaces)) }),
              !entry.isEmpty else { return nil }
        if let parameter = entry.split(separator: ";").first(where: { $0.lowercased().trimmingCharacters(in: .whitespaces).hasPrefix("for=") }) {
            entry = String(parameter.trimmingCharacters(in: .whitespaces).dropFirst(4))
        }
        entry = entry.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        if entry.hasPrefix("["), let close = entry.firstIndex(of: "]") { return String(entry[entry.index(after: entry.startIndex)..<close]) }
        // host:port (one colon: an IPv6 address has several).
        if entry.filter({ $0 == ":" }).count == 1, let colon = entry.firstIndex(of: ":") { return String(entry[..<colon]) }
        return entry.isEmpty ? nil : entry
    }

    /// A place for `client`'s request, held by its response body, or nil when it has `limit`
    /// in progress already.
    func admit(_ client: String) -> Held? {
        guard counts.withLock({ $0.add(client, below: limit) }) else {
            metrics.connectionRefused("client")
            return nil
        }
        return Held { self.counts.withLock { $0.remove(client) } }
    }
}

/// Applies a `ClientRequestGate` to every routed request.
struct ClientRequestMiddleware<Context: RequestContext>: RouterMiddleware {
    let gate: ClientRequestGate

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let value = request.headers[gate.header], let client = ClientRequestGate.client(in: value) else {
            return try await next(request, context)
        }
        guard let place = gate.admit(client) else {
            throw ServerError.unavailable("this client has too many requests in progress; retry shortly", retryAfter: 1)
        }
        var response = try await next(request, context)
        let body = response.body
        // The place is held by the body (a streamed file's lasts until it is sent) and given
        // back when Hummingbird is done with it, written or not.
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            try await body.write(writer)
            withExtendedLifetime(place) {}
        }
        return response
    }
}
