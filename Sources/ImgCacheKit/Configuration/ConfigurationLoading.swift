import CacheStore
import Foundation
import Yams

extension Configuration {
    /// The layers, each over the one before: the defaults, the file at `path` (if any), the
    /// environment, then `flags` (key name → the flag's text, e.g. `["concurrency": "4"]`).
    /// Errors name the file and line, the variable or the flag, and the problem.
    public static func load(path: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                            flags: [String: String] = [:]) throws(ConfigurationError) -> Configuration {
        var configuration = Configuration()
        // Where each key's value came from ("imgcache.yml: line 3", "IMGCACHE_INDEX", "--per-host"), for messages.
        var origins: [String: String] = [:]
        if let path { try configuration.applyFile(path, origins: &origins) }
        for key in keys {
            guard let variable = key.environment.first(where: { environment[$0]?.isEmpty == false }),
                  let text = environment[variable] else { continue }
            try configuration.apply(key, ConfigValue(text: text, origin: variable), prefix: variable, origins: &origins)
        }
        for (name, text) in flags.sorted(by: { $0.key < $1.key }) {
            guard let key = keys.first(where: { $0.name == name }) else {
                throw ConfigurationError("no configuration key '\(name)' (a flag names one that does not exist)")
            }
            try configuration.apply(key, ConfigValue(text: text, origin: "flag"), prefix: "--" + Self.flagName(name), origins: &origins)
        }
        try configuration.resolveBackends(environment: environment, origins: origins)
        return configuration
    }

    /// Reads only a file, without the environment: what tests and `imgcache docs` check.
    public static func load(path: String) throws(ConfigurationError) -> Configuration {
        try load(path: path, environment: [:])
    }

    /// `perHost` → `per-host`: how the commands spell a key as a flag.
    static func flagName(_ key: String) -> String {
        key.reduce(into: "") { name, character in
            if character.isUppercase { name += "-" + character.lowercased() } else { name.append(character) }
        }
    }

    private mutating func apply(_ key: ConfigKey, _ value: ConfigValue, prefix: String,
                                origins: inout [String: String]) throws(ConfigurationError) {
        do {
            try key.apply(value, &self)
            origins[key.name] = prefix
        } catch {
            throw ConfigurationError("\(prefix): \(error.message)")
        }
    }

    /// The file's keys, in the file's order; an unknown key is an error naming its line (a
    /// misspelt `maxPixel:` would otherwise be ignored without a word).
    private mutating func applyFile(_ path: String, origins: inout [String: String]) throws(ConfigurationError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("\(path): cannot read the configuration file")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: String(decoding: data, as: UTF8.self))
        } catch {
            throw ConfigurationError("\(path): \(error)")
        }
        guard let root else { return }
        guard let mapping = root.mapping else { throw ConfigurationError("\(path): the file must be a mapping of keys (key: value)") }
        for (name, value) in Self.entries(mapping, path: path) {
            let origin = "\(path): line \((value.mark?.line ?? 0))"
            guard let key = Self.keys.first(where: { $0.name == name }) else {
                let known = Self.keys.map(\.name).joined(separator: ", ")
                throw ConfigurationError("\(origin): unknown key '\(name)' (keys: \(known))")
            }
            try apply(key, ConfigValue(node: value, origin: origin), prefix: origin, origins: &origins)
        }
    }

    /// The file's (dotted name, value) pairs: a group's keys (`limits:`) under their group.
    private static func entries(_ mapping: Node.Mapping, path: String) -> [(String, Node)] {
        let groups = Set(keys.compactMap(\.group))
        var entries: [(String, Node)] = []
        for (keyNode, value) in mapping {
            let name = keyNode.scalar?.string ?? "?"
            if groups.contains(name), let inner = value.mapping {
                entries += inner.map { ("\(name).\($0.key.scalar?.string ?? "?")", $0.value) }
            } else {
                entries.append((name, value))
            }
        }
        return entries
    }

    /// `index` and `store` as locations, once every layer has had its say.
    private mutating func resolveBackends(environment: [String: String], origins: [String: String]) throws(ConfigurationError) {
        do {
            let setting = indexSetting?.trimmingCharacters(in: .whitespaces) ?? ""
            index = setting.isEmpty || setting == "sqlite" ? nil : try PostgresLocation.parse(setting, environment: environment)
        } catch {
            throw ConfigurationError("\(origins["index"] ?? "index"): \(error.message)")
        }
        _ = try onDemand.signer()  // the keys and salts pair up and are hex
        guard let url = storeSettings.url else { return }
        do {
            store = try S3Location.parse(url, endpoint: storeSettings.endpoint, region: storeSettings.region,
                                         accessKey: storeSettings.accessKey, secretKey: storeSettings.secretKey, environment: [:])
        } catch {
            throw ConfigurationError("\(origins["store"] ?? "store"): \(error.message)")
        }
    }
}
