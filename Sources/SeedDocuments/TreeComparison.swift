import Yams

/// Compares a front matter's tree before and after a write-back: equal everywhere (scalars by
/// value and resolved tag, styles ignored), except that the image entries in `wanted` must have
/// an `isCached` of exactly that value and otherwise the same pairs in the same order.
struct TreeComparison {
    /// Nodes still to visit; below zero the comparison gave up.
    var budget: Int
    let wanted: [EntryPosition: Bool]

    mutating func sameRoot(_ old: Node?, _ new: Node?) -> Bool {
        guard let old, let new else { return old == nil && new == nil }
        guard !wanted.isEmpty, let a = old.mapping, let b = new.mapping else { return same(old, new) }
        guard a.count == b.count else { return false }
        var sawImages = false, sawRelated = false
        for (x, y) in zip(a, b) {
            guard same(x.key, y.key) else { return false }
            let name = x.key.scalar?.string
            if name == "images" && !sawImages {
                sawImages = true
                guard sameImages(x.value, y.value, article: nil) else { return false }
            } else if name == "related" && !sawRelated {
                sawRelated = true
                guard sameRelated(x.value, y.value) else { return false }
            } else if !same(x.value, y.value) {
                return false
            }
        }
        return true
    }

    private mutating func sameRelated(_ old: Node, _ new: Node) -> Bool {
        guard let a = old.sequence, let b = new.sequence else { return same(old, new) }
        guard a.count == b.count else { return false }
        for (article, (x, y)) in zip(a, b).enumerated() {
            guard let p = x.mapping, let q = y.mapping else {
                guard same(x, y) else { return false }
                continue
            }
            guard p.count == q.count else { return false }
            var sawImages = false
            for (u, v) in zip(p, q) {
                guard same(u.key, v.key) else { return false }
                if u.key.scalar?.string == "images" && !sawImages {
                    sawImages = true
                    guard sameImages(u.value, v.value, article: article) else { return false }
                } else if !same(u.value, v.value) {
                    return false
                }
            }
        }
        return true
    }

    private mutating func sameImages(_ old: Node, _ new: Node, article: Int?) -> Bool {
        guard let a = old.sequence, let b = new.sequence else { return same(old, new) }
        guard a.count == b.count else { return false }
        for (index, (x, y)) in zip(a, b).enumerated() {
            if let value = wanted[EntryPosition(article: article, index: index)], let p = x.mapping, let q = y.mapping {
                guard sameEntry(p, q, isCached: value) else { return false }
            } else if !same(x, y) {
                return false
            }
        }
        return true
    }

    /// The same pairs but `isCached`, which `new` has once, as a plain `value`, where `old` had
    /// it or at the end.
    private mutating func sameEntry(_ old: Node.Mapping, _ new: Node.Mapping, isCached value: Bool) -> Bool {
        let oldPosition = old.firstIndex { $0.key.scalar?.string == "isCached" }
        let newPositions = new.indices.filter { new[$0].key.scalar?.string == "isCached" }
        guard newPositions.count == 1, let position = newPositions.first else { return false }
        guard oldPosition.map({ old.distance(from: old.startIndex, to: $0) })
                ?? old.count == new.distance(from: new.startIndex, to: position) else { return false }
        guard let scalar = new[position].value.scalar, scalar.style == .plain, new[position].value.bool == value else { return false }
        let rest = { (mapping: Node.Mapping) in mapping.filter { $0.key.scalar?.string != "isCached" } }
        let a = rest(old), b = rest(new)
        guard a.count == b.count else { return false }
        for (x, y) in zip(a, b) where !same(x.key, y.key) || !same(x.value, y.value) { return false }
        return true
    }

    /// Structural equality within the budget.
    mutating func same(_ a: Node, _ b: Node) -> Bool {
        budget -= 1
        guard budget >= 0 else { return false }
        switch (a, b) {
        case (.scalar(let x), .scalar(let y)):
            // With no resolver rules (SeedParser.resolver) a plain scalar's type is decided by its
            // text alone; a quoted or block one is a string: equal text, equal explicit tag and the
            // same plainness mean equal data. (Yams's == would resolve tags through regexes.)
            return x.string == y.string && x.tag == y.tag && (x.style == .plain) == (y.style == .plain)
        case (.sequence(let x), .sequence(let y)):
            guard x.count == y.count else { return false }
            for (p, q) in zip(x, y) where !same(p, q) { return false }
            return true
        case (.mapping(let x), .mapping(let y)):
            guard x.count == y.count else { return false }
            for (p, q) in zip(x, y) where !same(p.key, q.key) || !same(p.value, q.value) { return false }
            return true
        case (.alias(let x), .alias(let y)):
            return x == y
        default:
            return false
        }
    }
}
