import CacheStore
import Foundation
import Hummingbird
import ImgCacheKit

/// `/v1/image?url=&variant=[&format=][&fallback=origin]`: a 302 to the immutable URL of the
/// best cached format the client accepts.
func imageRedirect(_ request: Request, service: CacheService, metrics: ServerMetrics) async throws -> Response {
    guard let url = request.uri.queryParameters.get("url"), !url.isEmpty else {
        throw ServerError.badRequest("the url parameter is required")
    }
    let variant = request.uri.queryParameters.get("variant") ?? service.variants.first?.name ?? "thumb"
    guard service.variants.contains(where: { $0.name == variant }) else {
        throw ServerError.badRequest("unknown variant '\(variant)'; configured: \(service.variants.map(\.name).joined(separator: ", "))")
    }
    var requested: OutputFormat?
    if let name = request.uri.queryParameters.get("format") {
        let formats = service.variants.first { $0.name == variant }!.formats
        let named = ImageFormat(name: name)?.fileExtension ?? name
        requested = formats.first { $0.fileExtensions.contains(named) }
        guard requested != nil else {
            throw ServerError.badRequest("variant \(variant) has no format '\(name)'; configured: \(formats.map(\.rawValue).joined(separator: ", "))")
        }
    }
    let cached = try await IndexReads.run({ try service.immutableURLs(for: url, variant: variant) })
    let chosen = requested.map { format in cached.firstIndex { $0.format == format } }
        ?? FormatNegotiation.choose(accept: request.headers[.accept], available: cached.map(\.format))
    if let chosen {
        metrics.lookup(hit: true)
        // The answer depends on Accept (unless format= fixed it): caches must key on it.
        return Response(status: .found, headers: [.location: cached[chosen].url, .cacheControl: "no-cache", .vary: "Accept"])
    }
    metrics.lookup(hit: false)
    // Only to a URL some seed named (the index knows it): never an open redirect to any URL a link carries.
    if request.uri.queryParameters.get("fallback") == "origin", SeedURL.isFetchable(url),
       try await IndexReads.run({ try service.knows(url: url) }) {
        return Response(status: .found, headers: [.location: url, .cacheControl: "no-cache"])
    }
    throw ServerError.notFound("\(url) is not cached for variant \(variant)")
}

/// Whether a URL may be used as a redirect target: absolute http or https only.
enum SeedURL {
    static func isFetchable(_ url: String) -> Bool {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", components.host?.isEmpty == false else { return false }
        return true
    }
}
