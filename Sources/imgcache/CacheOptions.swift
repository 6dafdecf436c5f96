import ArgumentParser
import Foundation
import ImgCacheKit

/// The options every command that works on a cache shares.
struct CacheOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Cache folder (default ./cache, or the config's cache).", valueName: "dir"))
    var cache: String?

    @Option(help: ArgumentHelp("Configuration file (default ./imgcache.yml if it exists).", valueName: "file"))
    var config: String?

    /// The configuration file's settings with `--cache` applied.
    func configuration() throws -> SyncConfiguration {
        var configuration = try loadConfiguration(explicit: config)
        if let cache { configuration.cacheDirectory = cache }
        return configuration
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
