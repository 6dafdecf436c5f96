/// One image entry in a seed document: `images[]` of the article or `related[].images[]`.
public struct ImageReference: Hashable, Sendable {
    public var url: String
    /// Declared width and height, when the entry gives them.
    public var width: Int?
    public var height: Int?
    /// The entry's `isCached` value, if present.
    public var isCached: Bool?
    /// 1-based line of the entry's `url:` (or of the entry itself, without one).
    public var line: Int
    /// True for `related[].images[]`, false for the article's own `images[]`.
    public var isRelated: Bool

    public init(url: String, width: Int? = nil, height: Int? = nil, isCached: Bool? = nil, line: Int, isRelated: Bool) {
        self.url = url
        self.width = width
        self.height = height
        self.isCached = isCached
        self.line = line
        self.isRelated = isRelated
    }
}

/// A parsed seed document: its image references and the entries that were skipped.
public struct SeedDocument: Hashable, Sendable {
    public var path: String
    public var images: [ImageReference]
    /// Entries skipped with a reason (a url that is not http or https, a url that is not text...).
    public var problems: [SeedError]

    public init(path: String, images: [ImageReference], problems: [SeedError] = []) {
        self.path = path
        self.images = images
        self.problems = problems
    }
}
