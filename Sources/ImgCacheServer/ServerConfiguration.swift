import CacheStore
import ImgCacheKit
import Logging
import NIOCore

/// Settings for `imgcache serve`.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// The cache served: its folder, index, store, replica budget and variants (imgcache.yml).
    public var cache = Configuration()
    /// The logger's level: requests are logged at .info, so .warning silences them.
    public var logLevel: Logger.Level = .info
    /// A connection idle this long is closed (slow clients cannot hold one forever).
    public var idleTimeout: TimeAmount = .seconds(30)
    /// `--prune-every`: prune inside the server on an interval.
    public var prune: PruneSchedule?
    /// `--sync-every`: sync a seeds folder inside the server on an interval (first run at start).
    public var sync: SyncSchedule?
    /// Who sees the dashboard at `/` (`--dashboard`, `--dashboard-token`): by default anyone
    /// who reaches the loopback address the server listens on.
    public var dashboard: DashboardAccess = .open
    /// More names the dashboard answers to on a loopback address (`--dashboard-host`), beyond
    /// localhost, 127.0.0.1, [::1] and the address itself.
    public var dashboardHosts: [String] = []
    /// `--tls-cert` and `--tls-key` (PEM): HTTPS, with HTTP/2 or HTTP/1.1 by ALPN. Without
    /// them the port speaks HTTP/1.1 and cleartext HTTP/2 (prior knowledge).
    public var tls: (certificateChain: String, privateKey: String)?
    /// Connections, streams, streamed responses and request heads (`ServerLimits`).
    public var limits = ServerLimits()

    public init() {}
}

public struct PruneSchedule: Sendable {
    public var every: Duration
    public var policy: PrunePolicy
    public var unreferencedSeeds: String?
    public var writeBackSeeds: String?
    public init(every: Duration, policy: PrunePolicy, unreferencedSeeds: String? = nil, writeBackSeeds: String? = nil) {
        self.every = every
        self.policy = policy
        self.unreferencedSeeds = unreferencedSeeds
        self.writeBackSeeds = writeBackSeeds
    }
}

public struct SyncSchedule: Sendable {
    public var every: Duration
    public var seedsDirectory: String
    public var configuration: Configuration
    public var writeBack: Bool
    /// Also sync within moments of a change to the folder (`serve --watch`); nil: on schedule only.
    public var watch: SeedWatching?
    public init(every: Duration, seedsDirectory: String, configuration: Configuration, writeBack: Bool = false,
                watch: SeedWatching? = nil) {
        self.every = every
        self.seedsDirectory = seedsDirectory
        self.configuration = configuration
        self.writeBack = writeBack
        self.watch = watch
    }
}

/// How `serve --watch` watches the seeds folder.
public struct SeedWatching: Sendable {
    /// Poll every this many seconds instead of inotify.
    public var poll: Double?
    public init(poll: Double? = nil) { self.poll = poll }
}

/// How the file routes stream files: the slots (`ServerLimits.maxStreamingResponses`), the
/// HTTP/2 streams of a connection that send at once, and how long a piece may wait for its client.
public struct StreamingPolicy: Sendable {
    let slots: StreamingSlots
    let turns: SendingTurns
    let sendTimeout: TimeAmount
    public init(maxResponses: Int = ServerLimits().maxStreamingResponses, sendTimeout: TimeAmount = .seconds(30)) {
        slots = StreamingSlots(capacity: maxResponses)
        turns = SendingTurns(perConnection: ServerLimits.sendersPerConnection, total: ServerLimits.senders)
        self.sendTimeout = sendTimeout
    }
}
