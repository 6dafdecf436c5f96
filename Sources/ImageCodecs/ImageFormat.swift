@_exported import ImageFormats

extension ImageFormat {
    /// A short, printable description of what the bytes look like, for error messages.
    static func describeUnknown(_ bytes: UnsafeRawBufferPointer) -> String {
        if bytes.isEmpty { return "the input is empty" }
        let head = bytes.prefix(16)
        let text = String(decoding: head, as: UTF8.self).lowercased()
        if text.contains("<!doctype") || text.contains("<html") { return "looks like an HTML page" }
        if text.hasPrefix("gif8") { return "looks like a GIF" }
        if text.hasPrefix("<svg") || text.hasPrefix("<?xml") { return "looks like SVG/XML" }
        if text.hasPrefix("riff") { return "a RIFF file that is not WebP" }
        if bytes.count >= 8, Array(bytes[4..<8]) == Array("ftyp".utf8) { return "an ISO-BMFF file that is not AVIF (HEIC? MP4?)" }
        let hex = head.prefix(4).map { String($0, radix: 16, uppercase: false) }.map { $0.count == 1 ? "0" + $0 : $0 }
        return "starts with bytes \(hex.joined(separator: " "))"
    }
}
