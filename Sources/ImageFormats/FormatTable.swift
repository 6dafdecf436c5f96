import Foundation

/// Every image format imgcache knows, described once: how its bytes are recognised, its media
/// type and file extensions, whether imgcache can write it, the `quality:` key a variant sets
/// it with and its default, and whether it can animate. Configuration, Accept negotiation, the
/// server's routes, help texts and the dashboard read this table; decoding and encoding are
/// `ImageCodecs`'s, one C file per format (in the manner of imgproxy's `imagetype/defs.go`).
/// Adding a format is one case, one entry here, and its codec.
public enum ImageFormat: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case jpeg
    case png
    case webp
    case avif
    case gif
    case tiff
    case heic
    case jxl
    case bmp
    case ico
    case svg

    /// This format's entry in the table.
    public var entry: FormatDescription {
        switch self {
        case .jpeg:
            FormatDescription(name: "JPEG", mediaType: "image/jpeg", fileExtension: "jpg", aliases: ["jpeg", "jpe"],
                              sniff: { $0.starts(with: [0xFF, 0xD8, 0xFF]) },
                              encoding: .init(qualityKey: "jpeg", defaultQuality: 80, isModern: false))
        case .png:
            FormatDescription(name: "PNG", mediaType: "image/png", fileExtension: "png", aliases: [],
                              sniff: { $0.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) },
                              encoding: .init(qualityKey: nil, defaultQuality: nil, isModern: false), animates: true)
        case .webp:
            FormatDescription(name: "WebP", mediaType: "image/webp", fileExtension: "webp", aliases: [],
                              sniff: { $0.count >= 12 && $0.matches("RIFF", at: 0) && $0.matches("WEBP", at: 8) },
                              encoding: .init(qualityKey: "webp", defaultQuality: 75, isModern: true), animates: true)
        case .avif:
            FormatDescription(name: "AVIF", mediaType: "image/avif", fileExtension: "avif", aliases: [],
                              sniff: { $0.hasBrand(in: ["avif", "avis"]) },
                              encoding: .init(qualityKey: "avif", defaultQuality: 57, isModern: true), animates: true)
        case .gif:
            FormatDescription(name: "GIF", mediaType: "image/gif", fileExtension: "gif", aliases: [],
                              sniff: { $0.matches("GIF87a", at: 0) || $0.matches("GIF89a", at: 0) },
                              encoding: nil, animates: true)
        case .tiff:
            FormatDescription(name: "TIFF", mediaType: "image/tiff", fileExtension: "tiff", aliases: ["tif"],
                              sniff: { $0.matches("II*\0", at: 0) || $0.matches("MM\0*", at: 0) }, encoding: nil)
        case .heic:
            // AVIF shares HEIF's container and its mif1 brand: an avif/avis brand makes a file AVIF.
            FormatDescription(name: "HEIC", mediaType: "image/heic", fileExtension: "heic", aliases: ["heif", "hif"],
                              sniff: { $0.hasBrand(in: ["heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1"])
                                  && !$0.hasBrand(in: ["avif", "avis"]) },
                              encoding: nil)
        case .jxl:
            // A bare codestream (FF 0A) or the ISO-BMFF container's signature box.
            FormatDescription(name: "JPEG XL", mediaType: "image/jxl", fileExtension: "jxl", aliases: [],
                              sniff: { $0.starts(with: [0xFF, 0x0A])
                                  || $0.starts(with: [0, 0, 0, 0x0C, 0x4A, 0x58, 0x4C, 0x20, 0x0D, 0x0A, 0x87, 0x0A]) },
                              encoding: nil)
        case .bmp:
            // "BM" and a DIB header size Windows and OS/2 define.
            FormatDescription(name: "BMP", mediaType: "image/bmp", fileExtension: "bmp", aliases: ["dib"],
                              sniff: { $0.matches("BM", at: 0) && $0.count >= 18
                                  && [12, 16, 40, 52, 56, 64, 108, 124].contains(Int($0[14]) | Int($0[15]) << 8 | Int($0[16]) << 16 | Int($0[17]) << 24) },
                              encoding: nil)
        case .ico:
            // Reserved 0, type 1 (icon) or 2 (cursor), 1 to 1024 entries, the first entry's reserved byte 0.
            FormatDescription(name: "ICO", mediaType: "image/vnd.microsoft.icon", fileExtension: "ico", aliases: ["cur"],
                              sniff: { $0.count >= 22 && $0[0] == 0 && $0[1] == 0 && ($0[2] == 1 || $0[2] == 2) && $0[3] == 0
                                  && (1...1024).contains(Int($0[4]) | Int($0[5]) << 8) && $0[9] == 0 },
                              encoding: nil)
        case .svg:
            FormatDescription(name: "SVG", mediaType: "image/svg+xml", fileExtension: "svg", aliases: [],
                              sniff: { $0.looksLikeSVG() }, encoding: nil, isVector: true,
                              contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; sandbox")
        }
    }

    public var description: String { entry.name }
    public var fileExtension: String { entry.fileExtension }
    public var mediaType: String { entry.mediaType }

    /// The format a file extension names (`jpg`, `jpeg`, `png`...; any case), or nil.
    public init?(fileExtension: some StringProtocol) {
        let name = fileExtension.lowercased()
        guard let format = Self.allCases.first(where: { $0.entry.fileExtension == name || $0.entry.aliases.contains(name) })
        else { return nil }
        self = format
    }

    /// The format a configuration names: its identifier or any of its extensions.
    public init?(name: some StringProtocol) {
        if let format = Self(rawValue: name.lowercased()) { self = format } else { self.init(fileExtension: name) }
    }

    /// The format whose signature starts `bytes`, or nil (never by file name or Content-Type).
    public static func sniff(_ bytes: UnsafeRawBufferPointer) -> ImageFormat? {
        allCases.first { $0.entry.sniff(bytes) }
    }

    /// The policy a file of `mediaType` is served with (SVG's sandbox), or nil: looked up per
    /// answer, so the table is read once into a dictionary.
    public static func contentSecurityPolicy(forMediaType mediaType: String) -> String? { policies[mediaType] }

    private static let policies: [String: String] = Dictionary(uniqueKeysWithValues: allCases.compactMap { format in
        format.entry.contentSecurityPolicy.map { (format.mediaType, $0) }
    })

    /// The formats imgcache can write, in table order.
    public static var encodable: [ImageFormat] { allCases.filter { $0.entry.encoding != nil } }

    /// "jpg|png|webp|avif": every extension the server answers for, for help texts.
    public static var extensionList: String { allCases.map(\.fileExtension).joined(separator: "|") }
}

/// One row of the format table.
public struct FormatDescription: Sendable {
    /// How imgcache writes a format.
    public struct Encoding: Sendable {
        /// The key of a variant's `quality:` map, or nil for a lossless format without one.
        public var qualityKey: String?
        /// Its quality when the configuration does not say (1...100).
        public var defaultQuality: Int?
        /// Offered before the fallback (`<picture>` sources; chosen by an Accept that names it).
        public var isModern: Bool
    }

    /// The format's usual name ("JPEG").
    public var name: String
    public var mediaType: String
    /// The extension files of this format are stored and served with.
    public var fileExtension: String
    /// Other extensions that name it (`jpeg`).
    public var aliases: [String]
    /// True when `bytes` start with this format's signature.
    public var sniff: @Sendable (UnsafeRawBufferPointer) -> Bool
    /// How it is written; nil for a format imgcache reads only.
    public var encoding: Encoding?
    /// Whether a file of this format can hold an animation.
    public var animates: Bool
    /// Drawn at any size from its description (SVG) rather than decoded at one size and resampled.
    public var isVector: Bool
    /// Sent with a file of this format: a format that is also a document (SVG can hold scripts
    /// and links) is served sandboxed, with nothing to load.
    public var contentSecurityPolicy: String?

    init(name: String, mediaType: String, fileExtension: String, aliases: [String],
         sniff: @escaping @Sendable (UnsafeRawBufferPointer) -> Bool, encoding: Encoding?, animates: Bool = false,
         isVector: Bool = false, contentSecurityPolicy: String? = nil) {
        self.name = name
        self.mediaType = mediaType
        self.fileExtension = fileExtension
        self.aliases = aliases
        self.sniff = sniff
        self.encoding = encoding
        self.animates = animates
        self.isVector = isVector
        self.contentSecurityPolicy = contentSecurityPolicy
    }
}

extension UnsafeRawBufferPointer {
    /// True when the bytes at `offset` are `text`'s ASCII.
    func matches(_ text: String, at offset: Int) -> Bool {
        let ascii = Array(text.utf8)
        guard offset >= 0, offset + ascii.count <= count else { return false }
        return ascii.indices.allSatisfy { self[offset + $0] == ascii[$0] }
    }

    /// An XML document whose root element is `<svg` (after a BOM, white space, an XML declaration,
    /// comments or a doctype), found in its first 4 KB; an HTML page is not an SVG.
    func looksLikeSVG() -> Bool {
        var start = 0
        if count >= 3 && self[0] == 0xEF && self[1] == 0xBB && self[2] == 0xBF { start = 3 }
        while start < count && [0x20, 0x09, 0x0A, 0x0D].contains(self[start]) { start += 1 }
        guard start < count, self[start] == UInt8(ascii: "<") else { return false }
        let head = String(decoding: self[start..<Swift.min(count, start + 4096)], as: UTF8.self).lowercased()
        guard let root = head.range(of: "<svg"), !head[..<root.lowerBound].contains("<html") else { return false }
        let after = head[root.upperBound...].first
        guard let after else { return true }
        return after == ">" || after == "/" || after.isWhitespace
    }

    /// An ISO-BMFF `ftyp` box first whose major or a compatible brand is one of `brands`.
    func hasBrand(in brands: [String]) -> Bool {
        guard count >= 16, matches("ftyp", at: 4) else { return false }
        let boxSize = Int(self[0]) << 24 | Int(self[1]) << 16 | Int(self[2]) << 8 | Int(self[3])
        let end = Swift.min(count, boxSize, 4096)
        var offset = 8  // major brand, then (after the 4-byte minor version) compatible brands
        while offset + 4 <= end {
            if brands.contains(where: { matches($0, at: offset) }) { return true }
            offset += offset == 8 ? 8 : 4
        }
        return false
    }
}
