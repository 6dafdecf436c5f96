import ArgumentParser
import Foundation
import ImgCacheKit

/// The options every command that works on a cache shares.
struct CacheOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Cache folder (default ./cache, or the config's cache).", valueName: "dir"))
    var cache: String?

    @Option(help: ArgumentHelp("Configuration file (default ./imgcache.yml if it exists; docs/configuration.md lists its keys).",
                               valueName: "file"))
    var config: String?

    /// The defaults, the configuration file, the environment, then `--cache` and the command's
    /// own `flags` (key name → text), each over the one before (`Configuration.load`).
    func configuration(flags: [String: String?] = [:]) throws -> Configuration {
        let path = config ?? (FileManager.default.fileExists(atPath: "imgcache.yml") ? "imgcache.yml" : nil)
        var given = flags.compactMapValues { $0 }
        if let cache { given["cache"] = cache }
        do {
            return try Configuration.load(path: path, flags: given)
        } catch {
            throw ValidationError("configuration: \(error)")
        }
    }

    /// The cache the configuration names, opened for `purpose`; a cache that cannot be opened
    /// is one `error:` line and exit status 1.
    func open(for purpose: Cache.Purpose, flags: [String: String?] = [:]) throws -> Cache {
        let configuration = try configuration(flags: flags)
        do {
            return try Cache.open(configuration, for: purpose)
        } catch {
            FileHandle.standardError.write(Data("error: \(safeLine(error))\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// Writes `value` as pretty, key-sorted JSON on stdout, unbuffered.
func printJSON(_ value: some Encodable) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}
