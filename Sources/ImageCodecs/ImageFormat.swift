/// The image formats imgcache decodes, chosen by magic bytes, never by file name or
/// Content-Type.
public enum ImageFormat: String, Sendable, Codable, CaseIterable {
    case jpeg
    case png
    case webp
    case avif

    public var fileExtension: String {
        switch self {
        case .jpeg: "jpg"
        case .png: "png"
        case .webp: "webp"
        case .avif: "avif"
        }
    }

    public var mediaType: String { "image/" + rawValue }

    /// The format a file extension names (`jpg`, `jpeg`, `png`, `webp`, `avif`), or nil.
    public init?(fileExtension: some StringProtocol) {
        switch fileExtension.lowercased() {
        case "jpg", "jpeg": self = .jpeg
        case "png": self = .png
        case "webp": self = .webp
        case "avif": self = .avif
        default: return nil
        }
    }

    /// The format whose signature starts `bytes`, or nil.
    public static func sniff(_ bytes: UnsafeRawBufferPointer) -> ImageFormat? {
        if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF { return .jpeg }
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        if bytes.count >= 8, png.indices.allSatisfy({ bytes[$0] == png[$0] }) { return .png }
        if bytes.count >= 12, matches(bytes, "RIFF", at: 0), matches(bytes, "WEBP", at: 8) { return .webp }
        if isAVIF(bytes) { return .avif }
        return nil
    }

    /// An ISO-BMFF `ftyp` box first whose major or a compatible brand is `avif` or `avis`.
    private static func isAVIF(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 16, matches(bytes, "ftyp", at: 4) else { return false }
        let boxSize = Int(bytes[0]) << 24 | Int(bytes[1]) << 16 | Int(bytes[2]) << 8 | Int(bytes[3])
        let end = min(bytes.count, boxSize, 4096)
        var offset = 8  // major brand, then (after the 4-byte minor version) compatible brands
        while offset + 4 <= end {
            if matches(bytes, "avif", at: offset) || matches(bytes, "avis", at: offset) { return true }
            offset += offset == 8 ? 8 : 4
        }
        return false
    }

    private static func matches(_ bytes: UnsafeRawBufferPointer, _ text: String, at offset: Int) -> Bool {
        let ascii = Array(text.utf8)
        guard offset + ascii.count <= bytes.count else { return false }
        return ascii.indices.allSatisfy { bytes[offset + $0] == ascii[$0] }
    }

    /// A short, printable description of what the bytes look like, for error messages.
    static func describeUnknown(_ bytes: UnsafeRawBufferPointer) -> String {
        if bytes.isEmpty { return "the input is empty" }
        let head = bytes.prefix(16)
        let text = String(decoding: head, as: UTF8.self).lowercased()
        if text.contains("<!doctype") || text.contains("<html") { return "looks like an HTML page" }
        if text.hasPrefix("gif8") { return "looks like a GIF" }
        if text.hasPrefix("<svg") || text.hasPrefix("<?xml") { return "looks like SVG/XML" }
        if text.hasPrefix("riff") { return "a RIFF file that is not WebP" }
        if bytes.count >= 8, matches(bytes, "ftyp", at: 4) { return "an ISO-BMFF file that is not AVIF (HEIC? MP4?)" }
        let hex = head.prefix(4).map { String($0, radix: 16, uppercase: false) }.map { $0.count == 1 ? "0" + $0 : $0 }
        return "starts with bytes \(hex.joined(separator: " "))"
    }
}
