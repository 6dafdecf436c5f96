/// Why an image could not be probed, decoded or encoded, with the library's own words.
///
/// A struct around an extensible code (in the manner of swift-nio's `FileSystemError`), so
/// new codes can be added without breaking exhaustive switches in callers.
public struct CodecError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case unsupportedFormat = "unsupported format"
            case unsupported = "unsupported"
            case corrupt = "corrupt"
            case truncated = "truncated"
            case tooManyPixels = "too many pixels"
            case tooManyBytes = "too many bytes"
            case outOfMemory = "out of memory"
            case limitExceeded = "limit exceeded"
            case invalidArgument = "invalid argument"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Not a JPEG or PNG by its magic bytes (an HTML page, a GIF named .jpg, SVG...).
        public static let unsupportedFormat = Code(.unsupportedFormat)
        /// A valid file using a feature this decoder lacks (12-bit or lossless JPEG).
        public static let unsupported = Code(.unsupported)
        /// Malformed data, or corrupt-data warnings in strict mode.
        public static let corrupt = Code(.corrupt)
        /// The data ends before the image does.
        public static let truncated = Code(.truncated)
        /// The header declares more pixels than the limit (or than the library supports).
        public static let tooManyPixels = Code(.tooManyPixels)
        /// The input is larger than the byte limit.
        public static let tooManyBytes = Code(.tooManyBytes)
        public static let outOfMemory = Code(.outOfMemory)
        /// Another resource limit: progressive scans, warnings, ancillary chunk size.
        public static let limitExceeded = Code(.limitExceeded)
        public static let invalidArgument = Code(.invalidArgument)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// What the library (or imgcache) said.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message.isEmpty ? code.description : "\(code): \(message)" }
}
