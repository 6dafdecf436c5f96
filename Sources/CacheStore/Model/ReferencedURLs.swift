/// The URLs some seed names, as prune's `--unreferenced` asks about them: held as 64-bit
/// hashes (a million URLs in about 17 MB, not the 100 MB of their text). A URL no seed names
/// that shares a hash with one that is named counts as named (about one in 10^13 at a million
/// URLs): the error can only keep an image, never remove one.
public struct ReferencedURLs: Sendable, ExpressibleByArrayLiteral {
    private var hashes: Set<Int> = []

    public init() {}

    public init(_ urls: some Sequence<String>) {
        for url in urls { insert(url) }
    }

    public init(arrayLiteral urls: String...) { self.init(urls) }

    /// The hashes are the process's own (`Hasher`, seeded per process): a set lives in the
    /// process that made it.
    public mutating func insert(_ url: String) { hashes.insert(url.hashValue) }

    public func contains(_ url: String) -> Bool { hashes.contains(url.hashValue) }

    public var isEmpty: Bool { hashes.isEmpty }
}
