/// The image formats imgcache decodes, chosen by magic bytes, never by file name or
/// Content-Type.
public enum ImageFormat: String, Sendable, Codable, CaseIterable {
    case jpeg
    case png

    public var fileExtension: String { self == .jpeg ? "jpg" : "png" }
    public var mediaType: String { self == .jpeg ? "image/jpeg" : "image/png" }

    /// The format whose signature starts `bytes`, or nil.
    public static func sniff(_ bytes: UnsafeRawBufferPointer) -> ImageFormat? {
        if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF { return .jpeg }
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        if bytes.count >= 8, png.indices.allSatisfy({ bytes[$0] == png[$0] }) { return .png }
        return nil
    }

    /// A short, printable description of what the bytes look like, for error messages.
    static func describeUnknown(_ bytes: UnsafeRawBufferPointer) -> String {
        if bytes.isEmpty { return "the input is empty" }
        let head = bytes.prefix(16)
        let text = String(decoding: head, as: UTF8.self).lowercased()
        if text.contains("<!doctype") || text.contains("<html") { return "looks like an HTML page" }
        if text.hasPrefix("gif8") { return "looks like a GIF" }
        if text.hasPrefix("<svg") || text.hasPrefix("<?xml") { return "looks like SVG/XML" }
        if text.hasPrefix("riff") { return "looks like a RIFF (WebP?) file" }
        let hex = head.prefix(4).map { String($0, radix: 16, uppercase: false) }.map { $0.count == 1 ? "0" + $0 : $0 }
        return "starts with bytes \(hex.joined(separator: " "))"
    }
}
