import CacheStore
import Foundation
import Hummingbird
import ImgCacheKit
import Logging
import NIOCore

/// `/v1/manifest`: the manifest, streamed a page of the index at a time (chunked: what the
/// server holds is one page, whatever the size of the cache). `seed=` keeps one seed file's
/// URLs, `section=` those of every seed under a folder; `limit=` / `after=` give pages in URL
/// order (`next` the cursor); `format=ndjson` (or `Accept: application/x-ndjson`) gives one
/// image per line. The ETag is the index generation and the request's shape: a revalidation
/// costs one read of the generation, no page.
func manifestResponse(_ request: Request, service: CacheService, metrics: ServerMetrics, logger: Logger) async throws -> Response {
    let query = try ManifestQuery(request)
    let generation = try await IndexReads.run { try service.index.generation() }
    // Weak: pages are read one after another, so a write landing mid-stream is in the bytes of
    // a response whose tag names the generation before it (the next request gets a new tag).
    let etag = "W/\"g\(generation)-" + BlobStore.digest(Data((service.manifestFingerprint + query.fingerprint).utf8)).prefix(16) + "\""
    var headers: HTTPFields = [.contentType: query.format.mediaType, .cacheControl: "no-cache", .eTag: etag]
    headers[.vary] = "Accept"
    if ETag.matches(request.headers[.ifNoneMatch], etag) { return Response(status: .notModified, headers: headers) }
    let writer = service.manifestWriter(scope: query.scope, format: query.format, after: query.after, limit: query.limit)
    // The first page is read before the status is sent: an index that cannot be read is a 503,
    // not a 200 cut short. A failure after that ends the chunked body without its last chunk,
    // which every client reads as an incomplete response.
    let (first, after) = try await IndexReads.page { try writer.next(writer.start) }
    return Response(status: .ok, headers: headers, body: ResponseBody { body in
        var position = after
        do {
            try await body.write(ByteBuffer(data: first))
            while let current = position {
                let (data, next): (Data, ManifestWriter.Position?)
                do {
                    (data, next) = try await IndexReads.page { try writer.next(current) }
                } catch {
                    metrics.streamCutShort(route: "manifest", reason: "index")
                    logger.error("GET /v1/manifest cut short after \(current.written) images: \(error)")
                    throw error
                }
                try await body.write(ByteBuffer(data: data))
                position = next
            }
            try await body.finish(nil)
        } catch let error as CacheError {
            throw error
        } catch {
            metrics.streamCutShort(route: "manifest", reason: "client")
            throw error
        }
    })
}

/// What a manifest request asks for.
struct ManifestQuery {
    var scope = SeedScope.all
    var format = ManifestWriter.Format.json
    var after: String?
    var limit: Int?

    init(_ request: Request) throws {
        let query = request.uri.queryParameters
        after = query.get("after")
        if let text = query.get("limit") {
            guard let value = Int(text), (1...100_000).contains(value) else {
                throw ServerError.badRequest("limit must be a whole number from 1 to 100000")
            }
            limit = value
        }
        switch (query.get("seed"), query.get("section")) {
        case (.some, .some): throw ServerError.badRequest("seed and section cannot be given together")
        case (.some(let seed), nil):
            guard !seed.isEmpty else { throw ServerError.badRequest("seed must name a seed file") }
            scope = .file(seed)
        case (nil, .some(let section)):
            guard !section.isEmpty, !section.hasPrefix("/") else { throw ServerError.badRequest("section must be a folder under the seeds folder, like posts/2024") }
            scope = .section(section)
        case (nil, nil): break
        }
        if let name = query.get("format") {
            guard let format = ManifestWriter.Format(rawValue: name) else { throw ServerError.badRequest("format must be json or ndjson") }
            self.format = format
        } else if request.headers[.accept]?.contains(ManifestWriter.Format.ndjson.mediaType) == true {
            format = .ndjson
        }
    }

    /// The parts of the request that change the bytes.
    var fingerprint: String { "\(scope)|\(format.rawValue)|\(after ?? "")|\(limit.map(String.init) ?? "")" }
}
