import CacheStore
import Foundation
import ImageCodecs

/// Writes on-demand variant URLs (`/v/<signature>/<options>/<sha256>.<ext>`): signed with the
/// first key, or `_` where the options are a bare width that `onDemandWidths` allows. What
/// `imgcache url`, the manifest's and the export's `srcset` print; the server's redirects sign
/// the same way.
public struct VariantURLs: Sendable {
    public let signer: URLSigner
    public let settings: OnDemandSettings
    /// Put before each path of a `srcset` (`https://img.example.com`; empty: the paths alone).
    public var base: String

    public init(_ settings: OnDemandSettings, base: String = "") throws(ConfigurationError) {
        self.settings = settings
        self.signer = try settings.signer()
        self.base = base.hasSuffix("/") ? String(base.dropLast()) : base
    }

    /// The URL path of `options` (made canonical) of the original `digest` in the format `ext`
    /// (`jpg`, `png`, `webp`, `avif` or `auto`); nil when it can be neither signed nor left unsigned.
    public func path(digest: String, options: VariantOptions, ext: String) -> String? {
        let format = OutputFormat(rawValue: ext).flatMap { $0 == .auto ? nil : $0 }
        let canonical = options.canonical(defaultQuality: format.map(VariantMaker.defaultQuality))
        let path = "/\(canonical)/\(digest).\(format?.fileExtensions[0] ?? "auto")"
        if let signature = signer.signature(of: path) { return "/v/\(signature)\(path)" }
        return settings.allowsUnsigned(canonical) ? "/v/_\(path)" : nil
    }

    /// The format an image without a format of its own is given: JPEG for a JPEG original,
    /// PNG for any other (it may have transparency).
    public static func fallback(forOriginal format: ImageFormat) -> OutputFormat { format == .jpeg ? .jpeg : .png }

    /// `srcset` values for an original of `width` pixels: one per format (WebP, then the
    /// fallback), each listing `srcsetWidths` up to the image's own width (at least the
    /// smallest), `<url> <width>w` separated by commas. Empty with no widths configured.
    public func srcsets(digest: String, width: Int, original: ImageFormat) -> [Manifest.SrcsetInfo] {
        var widths = settings.srcsetWidths.filter { $0 <= width }
        if widths.isEmpty, let smallest = settings.srcsetWidths.first { widths = [min(smallest, width)] }
        guard !widths.isEmpty else { return [] }
        return [OutputFormat.webp, Self.fallback(forOriginal: original)].compactMap { format in
            let ext = format.fileExtensions[0]
            let items = widths.compactMap { w in path(digest: digest, options: VariantOptions(width: w), ext: ext).map { "\(base)\($0) \(w)w" } }
            return items.isEmpty ? nil : Manifest.SrcsetInfo(type: format.format?.mediaType ?? "image/jpeg", srcset: items.joined(separator: ", "))
        }
    }
}
