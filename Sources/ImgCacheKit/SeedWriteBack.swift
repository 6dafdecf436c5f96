import SeedDocuments

/// Writes isCached back into seed files: the one loop sync and prune share.
enum SeedWriteBack {
    /// Sets each URL's isCached to its state in `documents` (a URL listed twice keeps its first
    /// state); returns how many files were rewritten and what could not be changed safely.
    static func apply(_ states: [(url: String, isCached: Bool)], to documents: [SeedDocument]) -> (rewritten: Int, problems: [String]) {
        guard !states.isEmpty else { return (0, []) }
        let byURL = Dictionary(states.map { ($0.url, $0.isCached) }, uniquingKeysWith: { a, _ in a })
        let (rewritten, problems) = IsCachedWriter.writeBack(documents, states: byURL)
        return (rewritten, problems.map(\.description))
    }
}
