import CacheStore
import Foundation
import Hummingbird
import ImageCore
import ImgCacheKit

/// `/v/<signature>/<options>/<sha256>.<ext>`: a variant of a cached original, made on its
/// first request (on a render worker, once however many ask at once) and kept in the cache
/// like any thumbnail; every later request is a file answer (ETag, immutable), from the hot
/// path once its lookup is remembered.
func addVariantRoute(to router: Router<ServerRequestContext>, service: CacheService, metrics: ServerMetrics, accessLog: AccessLog?,
                     streaming: StreamingPolicy) {
    for method in [HTTPRequest.Method.get, .head] {
        router.on("/v/:signature/:options/:file", method: method) { request, context in
            guard let url = CacheURL(path: request.uri.path), case .variant(let signature, let text, let digest, let ext) = url else {
                throw ServerError.notFound("not a variant URL: /v/<signature>/<options>/<sha256>.<ext>")
            }
            if let remembered = service.remembered(url.lookupKey) {
                return try await serveFile(remembered, request: request, context: context, service: service, metrics: metrics,
                                           accessLog: accessLog, streaming: streaming)
            }
            let options = try VariantRequest.authorize(signature: signature, options: text, digest: digest, ext: ext,
                                                       service: service, metrics: metrics)
            guard let original = try await IndexReads.run({ try service.index.object(String(digest)) }) else {
                throw ServerError.notFound("no cached original \(digest)")
            }
            let decision = try VariantRequest.decide(options, signature: signature, text: text, digest: digest, ext: ext,
                                                     accept: request.headers[.accept], original: original.format, service: service)
            switch decision {
            case .redirect(let location, let byAccept):
                let headers: HTTPFields = byAccept ? [.location: location, .vary: "Accept", .cacheControl: "no-cache"]
                                                   : [.location: location, .cacheControl: "public, max-age=86400"]
                return Response(status: byAccept ? .found : .movedPermanently, headers: headers)
            case .render(let variant):
                let record = try await variantRecord(variant, original: original, service: service, metrics: metrics)
                let file = try await IndexReads.run { try service.variantFile(record, url: url) }
                return try await serveFile(file, request: request, context: context, service: service, metrics: metrics,
                                           accessLog: accessLog, streaming: streaming)
            }
        }
    }
}

/// The row of `variant` of `original`: found in the index, or rendered now (counted).
private func variantRecord(_ variant: VariantRequest, original: ObjectRecord, service: CacheService,
                           metrics: ServerMetrics) async throws -> ThumbnailRecord {
    // The index keeps the stored size, not the orientation: refused here when either way up is
    // too large; the render checks the header's orientation before decoding.
    let stored = Size(width: original.width, height: original.height)
    let upright = ThumbnailGeometry.plan(source: stored, spec: variant.options.spec).targetSize
    let turned = ThumbnailGeometry.plan(source: stored.transposed, spec: variant.options.spec).targetSize
    let smallest = upright.pixelCount <= turned.pixelCount ? upright : turned
    guard smallest.pixelCount <= service.onDemand.maxPixels else {
        metrics.variantRefused("limit")
        throw ServerError.badRequest("\(smallest) is more than the \(service.onDemand.maxPixels) pixels a variant may have")
    }
    let rendition = VariantMaker.rendition(variant.options, format: variant.format)
    let key = rendition.thumbnailKey(digest: original.digest)
    if let existing = try await IndexReads.run({ try service.index.thumbnail(key: key) }) { return existing }
    do {
        return try await service.renders.value(for: key) { () throws(ServerError) -> ThumbnailRecord in
            let made: VariantMade
            do throws(VariantFailure) {
                made = try service.maker.make(digest: original.digest, rendition: rendition)
            } catch {
                switch error {
                case .tooLarge(let message):
                    metrics.variantRefused("limit")
                    throw ServerError.badRequest(message)
                case .image(let codec):
                    metrics.variantRender("failed")
                    throw ServerError(.unprocessableContent, "the original cannot be made into \(variant.options): \(codec)")
                case .cache(let cache):
                    metrics.variantRender("failed")
                    throw ServerError.answering(cache)
                }
            }
            switch made {
            case .made(let record):
                metrics.variantRender("made")
                return record
            case .existing(let record):
                metrics.variantRender("existing")
                return record
            case .originalGone:
                throw ServerError.notFound("no cached original \(original.digest)")
            }
        }
    } catch is RenderPool<ThumbnailRecord>.Busy {
        metrics.variantRefused("busy")
        throw ServerError(.tooManyRequests, "too many variants are being made; retry shortly", headers: [.retryAfter: "1"])
    } catch let remembered as RenderPool<ThumbnailRecord>.Remembered {
        metrics.variantRefused("failed")
        throw remembered.error
    }
}
