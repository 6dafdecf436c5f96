import ArgumentParser
import Foundation
import Hummingbird
import ImgCacheKit
import ImgCacheServer
import Logging

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve cached thumbnails and originals over HTTP, with a manifest, health and metrics.",
        discussion: """
            Routes:
              GET|HEAD /t/<sha256>/<variant>.<jpg|png>   a thumbnail (immutable, strong ETag, 304)
              GET|HEAD /o/<sha256>.<jpg|png>             an original
              GET /v1/image?url=<url>&variant=<name>[&fallback=origin]
                                                        302 to the immutable URL; 404 JSON, or 302 to the origin
              GET /v1/manifest[?seed=<path>]             the manifest (same shape as `imgcache export`)
              GET /healthz, GET /metrics                 health; Prometheus text

            Paths are parsed strictly (64 hex digits, a configured variant, the stored format's \
            extension); anything else is 404, and no filesystem path is built from request text. \
            Files are streamed from disk. SIGINT or SIGTERM stop the server gracefully.

            Scheduled work inside the server (a run that fails is logged; the next is on time):
              --sync-every 1h --seeds DIR     sync DIR at start, then every interval
              --prune-every 6h RULES          prune every interval with the rules of `imgcache prune`
                                              (--max-size, --max-age, --unreferenced, --grace, --write-back)
            Neither ever blocks serving; the server forgets what it knew about pruned files.

            Examples:
              imgcache serve
              imgcache serve --host 0.0.0.0 --port 8080 --cache /var/cache/imgcache --log-level warning
              imgcache serve --sync-every 1h --seeds seeds/ --prune-every 6h --max-size 2GiB --unreferenced seeds/
            """)

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port = 8080

    @OptionGroup var cacheOptions: CacheOptions

    @Option(help: "Request log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    @Option(help: ArgumentHelp("Sync --seeds at start and then every interval (30m, 1h).", valueName: "interval"))
    var syncEvery: String?

    @Option(help: ArgumentHelp("The seeds folder --sync-every syncs.", valueName: "seeds-dir"))
    var seeds: String?

    @Option(help: ArgumentHelp("Prune every interval (6h, 1d) with the rules below.", valueName: "interval"))
    var pruneEvery: String?

    @OptionGroup(title: "Prune rules (with --prune-every)") var pruneRules: PruneOptions

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be 1-65535") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        if let syncEvery {
            guard let seconds = DurationText.parse(syncEvery), seconds > 0 else { throw ValidationError("--sync-every '\(syncEvery)' is not a duration like 1h") }
            guard seeds != nil else { throw ValidationError("--sync-every needs --seeds DIR") }
        } else if seeds != nil {
            throw ValidationError("--seeds is for --sync-every")
        }
        if let pruneEvery {
            guard let seconds = DurationText.parse(pruneEvery), seconds > 0 else { throw ValidationError("--prune-every '\(pruneEvery)' is not a duration like 6h") }
            guard !pruneRules.isEmpty else { throw ValidationError("--prune-every needs a rule: --max-size, --max-age or --unreferenced") }
        } else if !pruneRules.isEmpty {
            throw ValidationError("--max-size, --max-age and --unreferenced need --prune-every here (or run `imgcache prune`)")
        }
    }

    func run() async throws {
        let file = try cacheOptions.configuration()
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.cacheDirectory = file.cacheDirectory
        configuration.store = file.store
        configuration.index = try file.indexLocation()
        configuration.replicaCacheBytes = file.replicaCacheBytes
        configuration.variants = file.variants
        configuration.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        if let syncEvery, let seconds = DurationText.parse(syncEvery), let seeds {
            configuration.sync = SyncSchedule(every: .seconds(seconds), seedsDirectory: seeds, configuration: file,
                                              writeBack: pruneRules.writeBack != nil)
        }
        if let pruneEvery, let seconds = DurationText.parse(pruneEvery) {
            configuration.prune = PruneSchedule(every: .seconds(seconds), policy: pruneRules.policy,
                                                unreferencedSeeds: pruneRules.unreferenced, writeBackSeeds: pruneRules.writeBack)
        }
        let app: any ApplicationProtocol
        do {
            app = try buildApplication(configuration: configuration)
        } catch {
            FileHandle.standardError.write(Data("error: \(safeLine(error))\n".utf8))
            throw ExitCode(1)
        }
        try await app.runService()
    }
}
