import Foundation
import Yams

/// One setting: declared once (in `Configuration.keys`) with everything the file, the
/// environment, the flags and the generated docs need.
public struct ConfigKey: Sendable {
    /// The key in `imgcache.yml`; `limits.maxPixels` is `maxPixels` under `limits:`.
    public let name: String
    /// What a value looks like, for the docs ("integer ≥ 1", "duration", …).
    public let type: String
    /// The default as the file would write it (the example file and the docs show it).
    public let defaultValue: String
    /// Environment variables that set it, the first one set wins.
    public let environment: [String]
    /// One line for the docs and the example file.
    public let doc: String
    /// The example file shows this commented out instead of the default (a key with no default).
    public let example: String?
    let apply: @Sendable (ConfigValue, inout Configuration) throws(ConfigurationError) -> Void

    init(_ name: String, _ type: String, default defaultValue: String, environment: [String] = [], example: String? = nil,
         _ doc: String, apply: @escaping @Sendable (ConfigValue, inout Configuration) throws(ConfigurationError) -> Void) {
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
        self.environment = environment
        self.example = example
        self.doc = doc
        self.apply = apply
    }

    /// The group a nested key belongs to (`limits`), or nil.
    var group: String? { name.contains(".") ? String(name.prefix { $0 != "." }) : nil }
    /// The key's name inside its group.
    public var leaf: String { String(name.split(separator: ".").last ?? Substring(name)) }
}

/// A value for a key from one layer: a node of the YAML file, or the text of a variable or flag.
public struct ConfigValue {
    let node: Node
    /// Where it came from, for messages: "line 4", "IMGCACHE_INDEX", "--concurrency".
    let origin: String

    /// A value written as text (a variable or flag): `[a, b]` or `{…}` is read as YAML, a
    /// comma-separated list where a key wants a list, anything else as a plain scalar.
    init(text: String, origin: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("[") || trimmed.hasPrefix("{"), let node = try? Yams.compose(yaml: trimmed) {
            self.node = node
        } else {
            self.node = Node(text, Tag(.str))
        }
        self.origin = origin
    }

    init(node: Node, origin: String) {
        self.node = node
        self.origin = origin
    }

    /// The value as text; an error for a list or a mapping.
    func string(_ key: String) throws(ConfigurationError) -> String {
        guard let scalar = node.scalar else { throw ConfigurationError("\(key) must be a single value") }
        return scalar.string
    }

    func int(_ key: String, atLeast minimum: Int) throws(ConfigurationError) -> Int {
        let text = try string(key)
        guard let value = Int(text.replacingOccurrences(of: "_", with: "")), value >= minimum else {
            throw ConfigurationError("\(key) must be a whole number of at least \(minimum), not '\(text)'")
        }
        return value
    }

    func bool(_ key: String) throws(ConfigurationError) -> Bool {
        let text = try string(key).lowercased()
        switch text {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw ConfigurationError("\(key) must be true or false, not '\(text)'")
        }
    }

    /// A YAML list, or a comma-separated list from a variable or flag.
    func strings(_ key: String) throws(ConfigurationError) -> [String] {
        if let sequence = node.sequence {
            return try sequence.map { (item) throws(ConfigurationError) -> String in
                guard let scalar = item.scalar else { throw ConfigurationError("\(key) must be a list of names") }
                return scalar.string
            }
        }
        let text = try string(key)
        return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// A list of widths in pixels (1…16384), sorted, without repeats.
    func widths(_ key: String) throws(ConfigurationError) -> [Int] {
        let widths = try strings(key).map { (text) throws(ConfigurationError) -> Int in
            guard let width = Int(text), (1...VariantOptions.maxSide).contains(width) else {
                throw ConfigurationError("\(key) must list widths from 1 to \(VariantOptions.maxSide), not '\(text)'")
            }
            return width
        }
        return Array(Set(widths)).sorted()
    }

    func bytes(_ key: String) throws(ConfigurationError) -> Int {
        let text = try string(key)
        guard let bytes = ByteSizeText.parse(text) else { throw ConfigurationError("\(key) '\(text)' is not a size like 512MB or 2GiB") }
        return bytes
    }

    func duration(_ key: String) throws(ConfigurationError) -> TimeInterval {
        let text = try string(key)
        guard let seconds = DurationText.parse(text) else {
            throw ConfigurationError("\(key) '\(text)' is not a duration like 90s, 30m, 24h, 7d")
        }
        return seconds
    }
}
