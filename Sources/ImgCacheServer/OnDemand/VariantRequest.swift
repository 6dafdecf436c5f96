import CacheStore
import ImageCore
import ImgCacheKit

/// What a `/v/<signature>/<options>/<sha256>.<ext>` request may have, decided before any work:
/// refused (403 for a signature that does not match or an unsigned URL outside the allowlist,
/// 400 for options that do not parse or go over a limit), redirected (to the canonical URL of
/// the same variant, or for `auto` to the format the client accepts), or made/served.
struct VariantRequest {
    /// The canonical options and the format the file is written in.
    var options: VariantOptions
    var format: OutputFormat

    enum Decision {
        case render(VariantRequest)
        /// `location`, permanent (a canonical URL) or by Accept (`auto`).
        case redirect(location: String, byAccept: Bool)
    }

    /// The options of a parsed `/v/` URL when its signature matches (or, unsigned, it asks
    /// only for an allowed width) and they parse within the limits; checked before any other
    /// work, the index included.
    static func authorize(signature: Substring, options text: Substring, digest: Substring, ext: Substring,
                          service: CacheService, metrics: ServerMetrics) throws(ServerError) -> VariantOptions {
        let unsigned = signature == "_"
        if !unsigned {
            guard service.signer.isValid(signature, for: "/\(text)/\(digest).\(ext)") else {
                metrics.variantRefused("signature")
                throw ServerError(.forbidden, service.signer.canSign ? "the signature does not match this URL"
                                                                     : "signed URLs are not accepted: no signingKeys are configured")
            }
        }
        let options: VariantOptions
        do {
            options = try VariantOptions(parsing: text)
        } catch {
            metrics.variantRefused(unsigned ? "unsigned" : "options")
            throw unsigned ? ServerError(.forbidden, "an unsigned URL may only ask for a width from onDemandWidths")
                           : .badRequest("bad options '\(text)': \(error)")
        }
        let settings = service.onDemand
        guard options.dpr <= settings.maxDPR else {
            metrics.variantRefused("limit")
            throw .badRequest("dpr \(VariantOptions.decimal(options.dpr)) is over the limit of \(VariantOptions.decimal(settings.maxDPR))")
        }
        let box = options.canonical(defaultQuality: nil)
        if unsigned {
            guard settings.allowsUnsigned(box) else {
                metrics.variantRefused("unsigned")
                let allowed = settings.widths.isEmpty ? "none are configured" : settings.widths.map(String.init).joined(separator: ", ")
                throw ServerError(.forbidden, "an unsigned URL may only ask for a width from onDemandWidths (\(allowed))")
            }
        }
        if let width = box.width, let height = box.height, width * height > settings.maxPixels {
            metrics.variantRefused("limit")
            throw .badRequest("\(width)x\(height) is more than the \(settings.maxPixels) pixels a variant may have")
        }
        return options
    }

    /// What to do with authorized `options`: render them, or redirect to the canonical URL of
    /// the same variant (or for `auto`, to the format Accept asks for). `original` is the
    /// cached original's format (`auto`'s fallback follows it).
    static func decide(_ options: VariantOptions, signature: Substring, text: Substring, digest: Substring, ext: Substring,
                       accept: String?, original: ImageFormat, service: CacheService) throws(ServerError) -> Decision {
        let format = try Self.format(ext: ext, accept: accept, original: original)
        let canonical = options.canonical(defaultQuality: VariantMaker.defaultQuality(format.output))
        let ext = format.output.fileExtensions[0]
        if format.byAccept || canonical.description != text || ext != format.requested {
            let path = "/\(canonical)/\(digest).\(ext)"
            let signature = signature == "_" ? "_" : service.signer.signature(of: path) ?? "_"
            return .redirect(location: "/v/\(signature)\(path)", byAccept: format.byAccept)
        }
        return .render(VariantRequest(options: canonical, format: format.output))
    }

    /// The format `ext` names; for `auto`, WebP or AVIF when Accept names them, else JPEG for
    /// a JPEG original and PNG for any other (it may have transparency).
    private static func format(ext: Substring, accept: String?, original: ImageFormat) throws(ServerError)
        -> (output: OutputFormat, requested: Substring, byAccept: Bool) {
        if ext == "auto" {
            let fallback = VariantURLs.fallback(forOriginal: original)
            let offered: [OutputFormat] = [.webp, .avif, fallback]  // WebP first: AVIF costs several times its CPU
            let chosen = FormatNegotiation.choose(accept: accept, available: offered) ?? 2
            return (offered[chosen], ext, true)
        }
        guard let format = OutputFormat(rawValue: String(ext)), format != .auto else {
            throw .notFound("no output format '\(ext)' (jpg, png, webp, avif or auto)")
        }
        return (format, ext, false)
    }
}
