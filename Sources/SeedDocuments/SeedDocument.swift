import SafeText

/// One image entry in a seed document: `images[]` of the article or `related[].images[]`.
public struct ImageReference: Hashable, Sendable {
    /// The URL as imgcache keeps, stores and shows it: as written, less any `user:password@`.
    public var url: String
    /// The URL as written, credentials included: what the request is made to, never stored.
    public var fetchURL: String
    /// Declared width and height, when the entry gives them.
    public var width: Int?
    public var height: Int?
    /// The entry's `isCached` value, if present.
    public var isCached: Bool?
    /// 1-based line of the entry's `url:` (or of the entry itself, without one).
    public var line: Int
    /// True for `related[].images[]`, false for the article's own `images[]`.
    public var isRelated: Bool
    /// Where the entry's `isCached` value stands, as the scan found it (for the write-back).
    public var isCachedSite: IsCachedSite = .other
    /// An image of the article's body (`bodyImages`), not of its front matter: never written back.
    public var inBody = false
    /// `focus: [x, y]`: where the subject is, as fractions (0…1) of the upright image's width and
    /// height; a `cover` crop is centred on it.
    public var focus: FocalPoint?

    public init(url: String, width: Int? = nil, height: Int? = nil, isCached: Bool? = nil, line: Int, isRelated: Bool) {
        self.url = SafeText.removingUserinfo(fromURL: url)
        self.fetchURL = url
        self.width = width
        self.height = height
        self.isCached = isCached
        self.line = line
        self.isRelated = isRelated
    }
}

/// A point of an image as fractions of its width and height, each 0…1 (`focus: [0.3, 0.6]`).
public struct FocalPoint: Hashable, Sendable, Codable {
    public var x: Double
    public var y: Double

    public init?(x: Double, y: Double) {
        guard (0...1).contains(x), (0...1).contains(y) else { return nil }
        self.x = x
        self.y = y
    }

    static let problem = "focus must be [x, y] with x and y from 0 to 1"
}

/// A parsed seed document: its image references and the entries that were skipped.
public struct SeedDocument: Hashable, Sendable {
    public var path: String
    public var images: [ImageReference]
    /// Entries skipped with a reason (a url that is not http or https, a url that is not text...).
    public var problems: [SeedError]
    /// A hash of the text the scan read (this process only): the write-back uses the scan's
    /// positions only while the file still holds exactly that text.
    public var textHash: Int?

    public init(path: String, images: [ImageReference], problems: [SeedError] = []) {
        self.path = path
        self.images = images
        self.problems = problems
    }
}

/// Where an image entry's `isCached` value stands in its document.
public enum IsCachedSite: Hashable, Sendable {
    /// A plain scalar that can be replaced in place: its range of UTF-8 bytes in the front
    /// matter's YAML, and the value it holds now. Only for entries no alias shares, whose url
    /// also stands at its own position (so the positions are the parser's).
    case plainToken(Range<Int>, current: Bool?)
    /// Anything else (no key, a quoted, anchored, tagged or shared value...): the write-back
    /// parses the document again and decides there.
    case other
}
