import Foundation
import Hummingbird
import NIOCore

/// `/v1/manifest`: the whole manifest (built once per index change, strong ETag, 304), or with
/// `seed=` (one seed file's URLs) and `limit=` / `after=` (pages in URL order, `next` the cursor).
func manifestResponse(_ request: Request, manifests: ManifestCache) async throws -> Response {
    let query = request.uri.queryParameters
    let seed = query.get("seed"), after = query.get("after")
    var limit: Int?
    if let text = query.get("limit") {
        guard let value = Int(text), (1...100_000).contains(value) else {
            throw ServerError.badRequest("limit must be a whole number from 1 to 100000")
        }
        limit = value
    }
    let built = try await manifests.current()
    let body: ByteBuffer, etag: String
    if seed == nil && after == nil && limit == nil {
        (body, etag) = (built.json, built.etag)
    } else {
        let data = built.manifest.page(seed: seed, after: after, limit: limit, sortedURLs: built.urls).json()
        (body, etag) = (ByteBuffer(data: data), ETag.of(data))
    }
    var headers: HTTPFields = [.contentType: "application/json", .cacheControl: "no-cache", .eTag: etag]
    if ETag.matches(request.headers[.ifNoneMatch], etag) { return Response(status: .notModified, headers: headers) }
    headers[.contentLength] = String(body.readableBytes)
    return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
}
