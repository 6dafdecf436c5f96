/// Why a seed file (or one entry in it) was skipped: names the file, the line and the reason.
public struct SeedError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        public static let unreadable = Code("unreadable")
        public static let notUTF8 = Code("not UTF-8")
        public static let noFrontMatter = Code("no front matter")
        public static let invalidYAML = Code("invalid YAML")
        public static let invalidImage = Code("invalid image entry")
        public static let invalidURL = Code("invalid url")
        public static let writeFailed = Code("write failed")
        /// A document over the limits (image entries, with aliases counted where used).
        public static let tooLarge = Code("too large")
        /// A symbolic link that cannot be followed to a regular file.
        public static let badLink = Code("link not followed")
        /// An `isCached` value write-back left alone (it could not be changed safely in place).
        public static let leftAlone = Code("left alone")

        public var description: String { name }
    }

    public var code: Code
    public var path: String
    /// 1-based line in the file, when known.
    public var line: Int?
    public var message: String

    public init(_ code: Code, path: String, line: Int? = nil, _ message: String) {
        self.code = code
        self.path = path
        self.line = line
        self.message = message
    }

    public var description: String {
        let place = line.map { "\(path):\($0)" } ?? path
        return "\(place): \(code): \(message)"
    }
}
