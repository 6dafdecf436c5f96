import SeedDocuments

/// Writes isCached back into seed files: the one loop sync and prune share.
enum SeedWriteBack {
    /// Sets each URL's isCached to its state in `documents` (a URL listed twice keeps its first
    /// state); returns how many files were rewritten and what could not be changed safely.
    static func apply(_ states: [(url: String, isCached: Bool)], to documents: [SeedDocument]) -> (rewritten: Int, problems: [String]) {
        guard !states.isEmpty else { return (0, []) }
        return apply(Dictionary(states.map { ($0.url, $0.isCached) }, uniquingKeysWith: { a, _ in a }), to: documents)
    }

    /// The same, the states by URL (made once for many batches of documents).
    static func apply(_ states: [String: Bool], to documents: [SeedDocument]) -> (rewritten: Int, problems: [String]) {
        guard !states.isEmpty else { return (0, []) }
        let (rewritten, problems) = IsCachedWriter.writeBack(documents, states: states)
        return (rewritten, problems.map(\.description))
    }
}
