import CacheStore
import ImgCacheKit

/// The URL of a cached file, parsed and printed in one place: `/t/<sha256>/<variant>.<ext>`
/// (a thumbnail), `/o/<sha256>.<ext>` (an original) or `/v/<signature>/<options>/<sha256>.<ext>`
/// (a variant made on request). The router, the hot path, the lookups, the metrics' route
/// names, the manifest and the dashboard all use it.
///
/// Parsing is strict and allocation-free: exactly one of the two shapes, a digest of 64
/// lower-case hex digits, a name and an extension; no query, no escapes. Whether the variant
/// is configured and the extension is the stored file's is the index's to say (`CacheService`).
public enum CacheURL: Hashable, Sendable {
    case thumbnail(digest: Substring, variant: Substring, ext: Substring)
    case original(digest: Substring, ext: Substring)
    /// `signature` is `_` (unsigned) or URL-safe base64; `options` as `VariantOptions` reads them.
    case variant(signature: Substring, options: Substring, digest: Substring, ext: Substring)

    /// The path's file, or nil when it is not exactly one of the two shapes.
    public init?(path: Substring) {
        let utf8 = path.utf8
        guard utf8.count <= 256, !utf8.contains(UInt8(ascii: "?")), !utf8.contains(UInt8(ascii: "%")) else { return nil }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 4, parts[0].isEmpty, parts[1] == "t", Self.isDigest(parts[2]), let (name, ext) = Self.split(parts[3]) {
            self = .thumbnail(digest: parts[2], variant: name, ext: ext)
        } else if parts.count == 3, parts[0].isEmpty, parts[1] == "o", let (digest, ext) = Self.split(parts[2]), Self.isDigest(digest) {
            self = .original(digest: digest, ext: ext)
        } else if parts.count == 5, parts[0].isEmpty, parts[1] == "v", Self.isSignature(parts[2]), Self.isOptions(parts[3]),
                  let (digest, ext) = Self.split(parts[4]), Self.isDigest(digest) {
            self = .variant(signature: parts[2], options: parts[3], digest: digest, ext: ext)
        } else {
            return nil
        }
    }

    public init?(path: String) { self.init(path: path[...]) }

    /// The thumbnail's URL.
    public static func of(_ record: ThumbnailRecord) -> String { "/t/\(record.digest)/\(record.variant).\(record.fileExtension)" }

    /// The original's URL.
    public static func of(_ record: ObjectRecord) -> String { "/o/\(record.digest).\(record.fileExtension)" }

    /// An on-demand variant's URL.
    public static func variant(signature: some StringProtocol, options: some StringProtocol, digest: some StringProtocol,
                               ext: some StringProtocol) -> String {
        "/v/\(signature)/\(options)/\(digest).\(ext)"
    }

    public var digest: Substring {
        switch self {
        case .thumbnail(let digest, _, _), .original(let digest, _), .variant(_, _, let digest, _): digest
        }
    }

    /// The metrics' route name: `thumbnail`, `original` or `variant`.
    public var route: String {
        switch self {
        case .thumbnail: "thumbnail"
        case .original: "original"
        case .variant: "variant"
        }
    }

    /// The key a lookup is remembered by: the path without its leading slash.
    public var lookupKey: String {
        switch self {
        case .thumbnail(let digest, let variant, let ext): "t/\(digest)/\(variant).\(ext)"
        case .original(let digest, let ext): "o/\(digest).\(ext)"
        // With its signature: a lookup is remembered only after its signature was checked.
        case .variant(let signature, let options, let digest, let ext): "v/\(signature)/\(options)/\(digest).\(ext)"
        }
    }

    /// The route name of any path under `/t/` or `/o/` (a malformed one too: its 404 is counted
    /// there), else nil.
    static func route(ofPath path: String) -> String? {
        if path.hasPrefix("/t/") { return "thumbnail" }
        if path.hasPrefix("/o/") { return "original" }
        if path.hasPrefix("/v/") { return "variant" }
        return nil
    }

    static func isDigest(_ text: Substring) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// `_`, or up to 64 characters of URL-safe base64.
    static func isSignature(_ text: Substring) -> Bool {
        text == "_" || ((1...64).contains(text.utf8.count) && URLSigner.isBase64URL(text))
    }

    /// Lower-case letters, digits, `:`, `,` and `.`: all an options segment is made of.
    static func isOptions(_ text: Substring) -> Bool {
        (1...120).contains(text.utf8.count) && text.utf8.allSatisfy {
            $0 == 58 || $0 == 44 || $0 == 46 || (48...57).contains($0) || (97...122).contains($0)
        }
    }

    /// `name.ext` split at its last dot; both parts non-empty.
    private static func split(_ file: Substring) -> (Substring, Substring)? {
        guard let dot = file.lastIndex(of: "."), dot != file.startIndex, file.index(after: dot) != file.endIndex else { return nil }
        return (file[..<dot], file[file.index(after: dot)...])
    }
}
