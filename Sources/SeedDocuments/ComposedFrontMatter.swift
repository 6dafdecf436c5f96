import Yams

/// A front matter composed into Yams nodes, with its parser kept alive so that nodes still know
/// their anchors (Yams holds them weakly).
struct ComposedFrontMatter {
    let parser: Parser
    let root: Node?
    let path: String
    let lineOffset: Int

    init(_ frontMatter: FrontMatter, path: String) throws(SeedError) {
        self.path = path
        let lineOffset = frontMatter.firstLine - 1
        self.lineOffset = lineOffset
        do {
            parser = try Parser(yaml: frontMatter.yaml, resolver: SeedParser.resolver)
            root = try parser.singleRoot()
        } catch {
            let (line, problem) = SeedParser.describe(error)
            throw SeedError(.invalidYAML, path: path, line: line.map { $0 + lineOffset }, problem)
        }
    }

    /// Every image entry that is a mapping: `images[]`, then `related[].images[]`, as `SeedParser` reads them.
    /// Throws when there are more than `SeedParser.maxImageEntries` (aliases count each time they are used).
    func entries() throws(SeedError) -> [(fields: Node.Mapping, position: EntryPosition)] {
        var found: [(fields: Node.Mapping, position: EntryPosition)] = []
        var seen = 0
        func gather(_ images: Node?, article: Int?) throws(SeedError) {
            guard let sequence = images?.sequence else { return }
            seen += sequence.count
            guard seen <= SeedParser.maxImageEntries else { throw SeedParser.tooManyEntries(path: path) }
            for (index, entry) in sequence.enumerated() {
                if let fields = entry.mapping { found.append((fields, EntryPosition(article: article, index: index))) }
            }
        }
        guard let mapping = root?.mapping else { return [] }
        try gather(mapping.field("images"), article: nil)
        for (article, node) in (mapping.field("related")?.sequence ?? []).enumerated() {
            try gather(node.mapping?.field("images"), article: article)
        }
        return found
    }

    /// Nil when `updatedYAML` parses to this tree with only the `isCached` values of `wanted` set;
    /// else why not.
    func verify(_ updatedYAML: String, wanted: [EntryPosition: Bool]) -> String? {
        let updated: Node?
        do {
            updated = try Parser(yaml: updatedYAML, resolver: SeedParser.resolver).singleRoot()
        } catch {
            return "the edited text would not parse (\(SeedParser.describe(error).1))"
        }
        var comparison = TreeComparison(budget: IsCachedWriter.maxComparedNodes, wanted: wanted)
        let same = comparison.sameRoot(root, updated)
        if comparison.budget < 0 {
            return "more than \(IsCachedWriter.maxComparedNodes) nodes to compare (aliases counted where used)"
        }
        return same ? nil : "the edited text would change more than the isCached values"
    }
}

extension Node.Mapping {
    /// The value of the first pair whose key is the scalar `name`. `mapping[name]` compares whole
    /// nodes, resolving every key's tag through Yams's regular expressions: with 50,000 entries
    /// that was most of the time spent reading seeds.
    func field(_ name: String) -> Node? {
        for (key, value) in self where key.scalar?.string == name { return value }
        return nil
    }
}
