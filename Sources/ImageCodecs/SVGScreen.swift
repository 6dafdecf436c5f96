import Foundation

/// What an SVG may hold before librsvg parses it.
struct SVGLimits: Hashable, Sendable {
    /// The largest document (an SVG is text: a thumbnail's source past this is not a picture).
    var maxBytes: Int
    /// Start tags in all.
    var maxElements: Int
    /// Elements open inside each other.
    var maxDepth: Int

    init(maxBytes: Int = 10 << 20, maxElements: Int = 200_000, maxDepth: Int = 256) {
        self.maxBytes = maxBytes
        self.maxElements = maxElements
        self.maxDepth = maxDepth
    }
}

/// Reads an SVG's markup once, linearly, before librsvg sees it, and refuses what a web image has
/// no business holding: DTD entity declarations (external entities reach files and the network;
/// nested ones expand exponentially), XInclude, and more bytes, elements or nesting than the limits.
/// Comments, CDATA, processing instructions and quoted attribute values are skipped as XML does.
enum SVGScreen {
    static func check(_ bytes: UnsafeRawBufferPointer) throws(CodecError) {
        try check(bytes, limits: SVGLimits())
    }

    static func check(_ bytes: UnsafeRawBufferPointer, limits: SVGLimits) throws(CodecError) {
        guard bytes.count <= limits.maxBytes else {
            throw CodecError(.tooManyBytes, "SVG: \(bytes.count) bytes, over the limit of \(limits.maxBytes)")
        }
        if contains(bytes, "<!ENTITY") {
            throw CodecError(.unsupported, "SVG: DTD entity declarations are refused (external entities and entity expansion)")
        }
        if contains(bytes, "http://www.w3.org/2001/XInclude") {
            throw CodecError(.unsupported, "SVG: XInclude is refused (it reads other documents)")
        }
        var scanner = Scanner(bytes: bytes)
        try scanner.run(limits: limits)
    }

    /// A case-sensitive search (the needle is short).
    static func contains(_ bytes: UnsafeRawBufferPointer, _ text: String) -> Bool { bytes.firstRange(of: Array(text.utf8)) != nil }

    /// Counts start tags and tracks depth over the markup.
    struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var at = 0
        var elements = 0
        var depth = 0

        mutating func run(limits: SVGLimits) throws(CodecError) {
            while let open = next(UInt8(ascii: "<")) {
                at = open + 1
                if starts("!--") { skip(past: "-->"); continue }
                if starts("![CDATA[") { skip(past: "]]>"); continue }
                if starts("?") { skip(past: "?>"); continue }
                if starts("!") { skipDeclaration(); continue }
                let closing = starts("/")
                let selfClosing = skipTag()
                if closing {
                    depth = max(0, depth - 1)
                    continue
                }
                elements += 1
                if !selfClosing { depth += 1 }
                guard elements <= limits.maxElements else {
                    throw CodecError(.limitExceeded, "SVG: more than \(limits.maxElements) elements")
                }
                guard depth <= limits.maxDepth else {
                    throw CodecError(.limitExceeded, "SVG: elements nested more than \(limits.maxDepth) deep")
                }
            }
        }

        func next(_ byte: UInt8) -> Int? {
            var index = at
            while index < bytes.count {
                if bytes[index] == byte { return index }
                index += 1
            }
            return nil
        }

        func starts(_ text: String) -> Bool {
            let ascii = Array(text.utf8)
            guard at + ascii.count <= bytes.count else { return false }
            return ascii.indices.allSatisfy { bytes[at + $0] == ascii[$0] }
        }

        mutating func skip(past text: String) {
            while at < bytes.count && !starts(text) { at += 1 }
            at = min(bytes.count, at + text.utf8.count)
        }

        /// A doctype, with an internal subset in brackets if it has one.
        mutating func skipDeclaration() {
            var bracketed = false
            while at < bytes.count {
                let byte = bytes[at]
                at += 1
                if byte == UInt8(ascii: "[") { bracketed = true }
                if byte == UInt8(ascii: "]") { bracketed = false }
                if byte == UInt8(ascii: ">") && !bracketed { return }
            }
        }

        /// To the tag's `>`, over quoted attribute values; true when it ends with `/>`.
        mutating func skipTag() -> Bool {
            var quote: UInt8?
            var previous: UInt8 = 0
            while at < bytes.count {
                let byte = bytes[at]
                at += 1
                if let open = quote {
                    if byte == open { quote = nil }
                } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                    quote = byte
                } else if byte == UInt8(ascii: ">") {
                    return previous == UInt8(ascii: "/")
                }
                previous = byte
            }
            return false
        }
    }
}
