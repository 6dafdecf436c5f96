import Foundation
import SeedDocuments
import Yams

/// libFuzzer target: seed parsing and the isCached write-back on arbitrary text, with the
/// write-back's promise as the oracle: the document after a write-back reads (with Yams's own
/// resolver) as the document before, except the isCached values written, which read as the
/// values asked for; entries reported as left alone keep their value; no input may crash, hang
/// or grow past the documented limits.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSeeds(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    guard let text = String(validating: UnsafeBufferPointer(start: start, count: count), as: UTF8.self) else { return 0 }
    guard let before = try? SeedParser.parse(text, path: "fuzz.md") else { return 0 }
    // Wanted values from the input itself, so the fuzzer explores both.
    var states: [String: Bool] = [:]
    for image in before.images { states[image.url] = image.url.utf8.count % 2 == 0 }
    guard let result = try? IsCachedWriter.rewrite(text, path: "fuzz.md", states: states), let updated = result.text else { return 0 }

    guard let after = try? SeedParser.parse(updated, path: "fuzz.md") else {
        fatalError("the written document no longer parses:\n\(updated)")
    }
    let leftAlone = Set(result.leftAlone.compactMap(\.line))
    precondition(after.images.map(\.url) == before.images.map(\.url), "the written document has other image URLs")
    for (old, new) in zip(before.images, after.images) {
        precondition(old.width == new.width && old.height == new.height, "width or height changed for \(old.url)")
        if leftAlone.isEmpty, let wanted = states[new.url] {
            precondition(new.isCached == wanted, "isCached of \(new.url) is \(String(describing: new.isCached)), not \(wanted)")
        }
    }
    // TOML and JSON: the data after is the data before but isCached, as their own parsers read it.
    if case .success(let a)? = DataFrontMatter.locate(in: text) {
        guard case .success(let b)? = DataFrontMatter.locate(in: updated), let old = try? a.data(), let new = try? b.data() else {
            fatalError("the written \(a.format.rawValue) cannot be read:\n\(updated)")
        }
        precondition(withoutIsCached(old) == withoutIsCached(new), "data other than isCached changed:\n\(text)\n---\n\(updated)")
        return 0
    }
    // Everything but isCached reads the same with Yams's default resolver (composed trees: Yams.load
    // itself crashes on complex keys such as `? [a]: b`, which the fuzzer found first).
    guard case .success(let a) = FrontMatter.locate(in: text), case .success(let b) = FrontMatter.locate(in: updated),
          let old = try? Yams.compose(yaml: a.yaml), let new = try? Yams.compose(yaml: b.yaml) else {
        fatalError("Yams cannot read what was written:\n\(updated)")
    }
    precondition(withoutIsCached(old) == withoutIsCached(new), "data other than isCached changed:\n\(text)\n---\n\(updated)")
    return 0
}

/// The tree with every pair whose key is `isCached` dropped (Node's == compares values and resolved tags).
func withoutIsCached(_ node: Node) -> Node {
    switch node {
    case .mapping(let mapping):
        let pairs = mapping.filter { $0.key.scalar?.string != "isCached" }.map { (withoutIsCached($0.key), withoutIsCached($0.value)) }
        return .mapping(Node.Mapping(pairs, mapping.tag, mapping.style, nil))
    case .sequence(let sequence):
        return .sequence(Node.Sequence(sequence.map(withoutIsCached), sequence.tag, sequence.style, nil))
    default:
        return node
    }
}

/// The TOML or JSON data with every `isCached` key dropped.
func withoutIsCached(_ value: DataValue) -> DataValue {
    switch value {
    case .table(let fields): return .table(fields.filter { $0.key != "isCached" }.mapValues(withoutIsCached))
    case .array(let items): return .array(items.map(withoutIsCached))
    default: return value
    }
}
