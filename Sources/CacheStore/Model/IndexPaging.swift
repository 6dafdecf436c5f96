import Foundation

/// Which URLs a paged read walks: every URL, the URLs one seed file references, or those of
/// every seed file under a folder (a site section: `posts/2024`).
public enum SeedScope: Sendable, Hashable {
    case all
    /// A seed file by its path relative to the seeds folder, or by the end of that path after a `/`
    /// (`hello.md`), the exact path winning when both match.
    case file(String)
    /// Every seed file whose path starts with this folder (a trailing `/` is implied).
    case section(String)

    /// The half-open range of seed paths under the section folder: `posts/` up to `posts0` (the
    /// byte after `/`), so a B-tree on `seed_path` answers it.
    static func range(ofSection folder: String) -> (from: String, to: String) {
        let trimmed = folder.hasSuffix("/") ? String(folder.dropLast()) : folder
        return (trimmed + "/", trimmed + "0")
    }

    /// `%/name` for LIKE, with `\` escaping LIKE's own wildcards in the name.
    static func suffixPattern(_ name: String) -> String {
        "%/" + likeEscaped(name)
    }

    /// `text` with LIKE's wildcards and its escape character (`\`) taken literally.
    static func likeEscaped(_ text: String) -> String {
        var escaped = ""
        for character in text {
            if character == "%" || character == "_" || character == "\\" { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }
}

/// Reads that walk the whole index a page at a time, in URL order (keyset paging: each page
/// starts after the last URL of the one before), so what reads a million images holds one
/// page of them. Every query behind a page is answered from a B-tree index; `pagePlans`
/// shows the database's own plan of each, for the tests that hold that.
public protocol IndexPaging: Sendable {
    /// At most `limit` URLs of `scope` after `after` (nil: from the first), with their
    /// originals, thumbnails and (with `references`) seed references: a logo named by every
    /// article has as many of those as there are articles, so a page holds the first
    /// `IndexContents.referencesPerURL` of each URL in seed order (and the count of a URL with
    /// more), and a reader that does not show them does not read them. `sources` is empty after
    /// the last page.
    func contentsPage(_ scope: SeedScope, after: String?, limit: Int, references: Bool) throws(CacheError) -> IndexContents
    /// At most `limit` thumbnail rows after key `after`, in key order (what `verify` checks).
    func thumbnailsPage(after: String?, limit: Int) throws(CacheError) -> [ThumbnailRecord]
    /// At most `limit` originals (digest, bytes) after `after`, in digest order.
    func objectsPage(after: String?, limit: Int) throws(CacheError) -> [(digest: String, bytes: Int)]
    /// Which of `keys` (blob keys' index names: an original's digest or a thumbnail's key) the
    /// index knows.
    func knownBlobs(originals: [String], thumbnails: [String]) throws(CacheError) -> Set<String>
    /// The database's plan for each query a page or dashboard read runs, by name.
    func pagePlans() throws(CacheError) -> [String: String]
}

extension IndexPaging {
    public func contentsPage(_ scope: SeedScope, after: String?, limit: Int) throws(CacheError) -> IndexContents {
        try contentsPage(scope, after: after, limit: limit, references: true)
    }

    /// Every page of `scope` in turn, `limit` URLs each, until `body` returns false.
    public func forEachPage(_ scope: SeedScope = .all, limit: Int = 500, references: Bool = true,
                            _ body: (IndexContents) throws -> Bool) throws {
        var after: String?
        while true {
            let page = try contentsPage(scope, after: after, limit: limit, references: references)
            guard let last = page.sources.last else { return }
            guard try body(page) else { return }
            if page.sources.count < limit { return }
            after = last.url
        }
    }
}

extension SeedScope {
    /// The stored paths a seed path named relative to the seeds folder (`posts/2024`) may be:
    /// a sync records each seed by its absolute path, so the folder of the seeds is one of the
    /// ancestors of the folder every stored path shares (`lowest` and `highest`, the first and
    /// last in byte order, share what all share). Deepest first; an absolute path is itself.
    static func candidates(for path: String, lowest: String, highest: String) -> [String] {
        guard !path.hasPrefix("/") else { return [path] }
        let shared = zip(lowest.utf8, highest.utf8).prefix { $0 == $1 }.count
        var folder = Self.folder(of: String(decoding: lowest.utf8.prefix(shared), as: UTF8.self))
        var candidates: [String] = []
        while true {
            candidates.append(folder + path)
            if folder.isEmpty { return candidates }
            folder = Self.folder(of: String(folder.dropLast()))
        }
    }

    /// `path` as the index stores it: the first of its `candidates` that `holdsSeeds` (a seed
    /// file, or a folder of them; asked with the path without a trailing `/`), else `path` as given.
    static func resolve(_ path: String, lowest: String, highest: String,
                        holdsSeeds: (_ exact: String, _ range: (from: String, to: String)) throws -> Bool) rethrows -> String {
        for candidate in candidates(for: path, lowest: lowest, highest: highest) {
            let exact = candidate.hasSuffix("/") ? String(candidate.dropLast()) : candidate
            if try holdsSeeds(exact, range(ofSection: exact)) { return candidate }
        }
        return path
    }

    /// `text` up to and with its last `/` ("" without one).
    private static func folder(of text: String) -> String {
        text.lastIndex(of: "/").map { String(text[...$0]) } ?? ""
    }
}
