import ArgumentParser
import Foundation
import Hummingbird
import ImageFormats
import ImgCacheKit
import ImgCacheServer
import Logging

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve cached thumbnails and originals over HTTP, with a manifest, health and metrics.",
        discussion: """
            Routes:
              GET|HEAD /t/<sha256>/<variant>.<ext>       a thumbnail (immutable, strong ETag, 304)
              GET|HEAD /o/<sha256>.<ext>                 an original
                                                        (<ext>: the stored format's: \(ImageFormat.extensionList))
              GET /v1/image?url=<url>&variant=<name>[&format=<ext>][&fallback=origin]
                                                        302 to the immutable URL; 404 JSON, or 302 to the origin
              GET /v1/manifest[?seed=<path>]             the manifest (same shape as `imgcache export`)
              GET /healthz, GET /readyz, GET /metrics    alive; ready (index, store, replica: 503 + JSON
                                                        naming the failing part); Prometheus text
              GET /, /images, /images/<sha256>, /failures, /mismatches
                                                        the dashboard: totals, recent images, failures by
                                                        reason, size mismatches, largest images, one page per image

            Protocols: HTTP/1.1 (1.0 too) and cleartext HTTP/2 with prior knowledge (h2c) on the same \
            port; with --tls-cert and --tls-key, HTTPS with HTTP/2 or HTTP/1.1 chosen by ALPN.

            The dashboard shows every source URL, error and seed path the cache knows, so by default \
            (--dashboard auto) it is on only when the server listens on a loopback address, or behind \
            a token (--dashboard-token, IMGCACHE_DASHBOARD_TOKEN): open /?token=<token> once, the \
            browser keeps it in a cookie; scripts send Authorization: Bearer <token>.

            Paths are parsed strictly (64 hex digits, a configured variant, the stored format's \
            extension); anything else is 404, and no filesystem path is built from request text. \
            Files are streamed from disk. SIGINT or SIGTERM stop the server gracefully.

            Limits: at most --max-connections open connections (and --max-connections-per-client \
            from one address; 0 behind a proxy), --max-streams-per-connection HTTP/2 streams each, \
            --max-streaming-responses files streamed at once (each holds at most 128 KB and no \
            descriptor while its client waits); request heads up to 8 KB a line, 32 KB in all (431). \
            The descriptor limit is raised to its hard limit at start.

            Scheduled work inside the server (a run that fails is logged; the next is on time):
              --sync-every 1h --seeds DIR     sync DIR at start, then every interval
              --seeds DIR --watch             also sync within moments of a change to DIR (inotify;
                                              polling on NFS/SMB/FUSE or with --poll); every hour
                                              without --sync-every
              --prune-every 6h RULES          prune every interval with the rules of `imgcache prune`
                                              (--max-size, --max-age, --unreferenced, --grace, --write-back)
            Neither ever blocks serving; the server forgets what it knew about pruned files.

            Examples:
              imgcache serve
              imgcache serve --host 0.0.0.0 --port 8080 --cache /var/cache/imgcache --log-level warning
              imgcache serve --sync-every 1h --seeds seeds/ --prune-every 6h --max-size 2GiB --unreferenced seeds/
              imgcache serve --seeds seeds/ --watch
              IMGCACHE_DASHBOARD_TOKEN=$(openssl rand -hex 16) imgcache serve --host 0.0.0.0
              imgcache serve --port 8443 --tls-cert cert.pem --tls-key key.pem
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

    @Option(help: ArgumentHelp("The seeds folder --sync-every and --watch sync.", valueName: "seeds-dir"))
    var seeds: String?

    @OptionGroup var watching: WatchOptions

    @Option(help: ArgumentHelp("Prune every interval (6h, 1d) with the rules below.", valueName: "interval"))
    var pruneEvery: String?

    @OptionGroup(title: "Prune rules (with --prune-every)") var pruneRules: PruneOptions

    @Option(help: ArgumentHelp("The dashboard at /: auto (on for a loopback --host or with a token), on, off.", valueName: "mode"))
    var dashboard: String?

    @Option(help: ArgumentHelp("The dashboard's token, at least 16 characters (or IMGCACHE_DASHBOARD_TOKEN).", valueName: "token"))
    var dashboardToken: String?

    @Option(help: ArgumentHelp("Another name the dashboard answers to on a loopback address (repeatable).", valueName: "name"))
    var dashboardHost: [String] = []

    @Option(help: ArgumentHelp("PEM certificate chain: serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN).", valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("PEM private key of --tls-cert.", valueName: "file"))
    var tlsKey: String?

    @OptionGroup(title: "Limits (over one: 503 with Retry-After, GOAWAY on HTTP/2, 431 for a head)") var limits: LimitOptions

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be 1-65535") }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        if let syncEvery {
            guard let seconds = DurationText.parse(syncEvery), seconds > 0 else { throw ValidationError("--sync-every '\(syncEvery)' is not a duration like 1h") }
            guard seeds != nil else { throw ValidationError("--sync-every needs --seeds DIR") }
        } else if seeds != nil, !watching.watch {
            throw ValidationError("--seeds is for --sync-every or --watch")
        }
        if watching.watch, seeds == nil { throw ValidationError("--watch needs --seeds DIR") }
        if let pruneEvery {
            guard let seconds = DurationText.parse(pruneEvery), seconds > 0 else { throw ValidationError("--prune-every '\(pruneEvery)' is not a duration like 6h") }
            guard !pruneRules.isEmpty else { throw ValidationError("--prune-every needs a rule: --max-size, --max-age or --unreferenced") }
        } else if !pruneRules.isEmpty {
            throw ValidationError("--max-size, --max-age and --unreferenced need --prune-every here (or run `imgcache prune`)")
        }
    }

    func run() async throws {
        let file = try cacheOptions.configuration(flags: ["dashboard": dashboard, "dashboardToken": dashboardToken])
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.cache = file
        configuration.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        if let seeds, syncEvery != nil || watching.watch {
            let seconds = syncEvery.flatMap(DurationText.parse) ?? 3600
            configuration.sync = SyncSchedule(every: .seconds(seconds), seedsDirectory: seeds, configuration: file,
                                              writeBack: pruneRules.writeBack != nil, watch: watching.watch ? SeedWatching(poll: watching.poll) : nil)
        }
        if let pruneEvery, let seconds = DurationText.parse(pruneEvery) {
            configuration.prune = PruneSchedule(every: .seconds(seconds), policy: pruneRules.policy,
                                                unreferencedSeeds: pruneRules.unreferenced, writeBackSeeds: pruneRules.writeBack)
        }
        if let tlsCert, let tlsKey { configuration.tls = (tlsCert, tlsKey) }
        DescriptorLimit.raise()
        configuration.dashboardHosts = dashboardHost
        configuration.limits = limits.limits
        let app: any ApplicationProtocol
        do {
            let (access, reason) = try DashboardAccess.resolve(mode: file.dashboard, token: file.dashboardToken, host: host)
            configuration.dashboard = access
            FileHandle.standardError.write(Data("serve: \(reason)\n".utf8))
            app = try buildApplication(configuration: configuration)
        } catch {
            FileHandle.standardError.write(Data("error: \(safeLine(error))\n".utf8))
            throw ExitCode(1)
        }
        try await app.runService()
    }
}

struct LimitOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Open connections in all (default 4096, kept below the descriptor limit).", valueName: "n"))
    var maxConnections: Int?

    @Option(help: ArgumentHelp("Open connections from one client address (with --client-address-header: requests in progress "
                               + "from one client); 0: no cap. Default 512.", valueName: "n"))
    var maxConnectionsPerClient: Int?

    @Option(help: ArgumentHelp("Behind a reverse proxy only: the header it writes the client's address to (X-Forwarded-For, "
                               + "X-Real-IP, Forwarded); the per-client cap then counts that client's requests.", valueName: "name"))
    var clientAddressHeader: String?

    @Option(help: ArgumentHelp("Concurrent streams per HTTP/2 connection (default 100).", valueName: "n"))
    var maxStreamsPerConnection: Int?

    @Option(help: ArgumentHelp("Responses streamed from files at once (default 1024).", valueName: "n"))
    var maxStreamingResponses: Int?

    func validate() throws {
        for (name, value) in [("--max-connections", maxConnections), ("--max-streams-per-connection", maxStreamsPerConnection),
                              ("--max-streaming-responses", maxStreamingResponses)] {
            if let value, value < 1 { throw ValidationError("\(name) must be at least 1") }
        }
        if let maxConnectionsPerClient, maxConnectionsPerClient < 0 { throw ValidationError("--max-connections-per-client must be 0 or more") }
        if let clientAddressHeader, !ServerLimits.isHeaderName(clientAddressHeader) {
            throw ValidationError("--client-address-header: '\(clientAddressHeader)' is not a header name")
        }
    }

    var limits: ServerLimits {
        var limits = ServerLimits()
        if let maxConnections { limits.maxConnections = maxConnections }
        if let maxConnectionsPerClient { limits.maxConnectionsPerClient = maxConnectionsPerClient }
        limits.clientAddressHeader = clientAddressHeader
        if let maxStreamsPerConnection { limits.maxStreamsPerConnection = maxStreamsPerConnection }
        if let maxStreamingResponses { limits.maxStreamingResponses = maxStreamingResponses }
        return limits
    }
}
