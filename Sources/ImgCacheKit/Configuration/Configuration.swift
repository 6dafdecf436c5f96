import CacheStore
import Fetching
import Foundation
import ImageCodecs
import ImageCore

/// Every setting of imgcache: what `sync`, `serve`, `prune` and the other commands read.
///
/// Each key is declared once, in `Configuration.keys` (name, type, default, environment
/// variables, one line of documentation, how it is applied); `load` layers defaults, then
/// `imgcache.yml`, then the environment, then the command's flags, each over the one before.
/// `docs/configuration.md` and `imgcache.example.yml` are written from that table
/// (`imgcache docs`), and a test fails when either differs from it.
public struct Configuration: Sendable {
    public var cacheDirectory = "cache"
    /// A shared index (nil: SQLite in `cacheDirectory`).
    public var index: PostgresLocation?
    /// Where originals and thumbnails are kept when not in `cacheDirectory` (the index stays there).
    public var store: S3Location?
    /// With `store`: how much a serve replica keeps on local disk.
    public var replicaCacheBytes = 1 << 30
    public var variants = Variant.defaults
    public var fetch = FetchConfiguration()
    public var decode = DecodeOptions()
    public var maxInputBytes = ThumbnailOptions.defaultMaxInputBytes
    public var minTTL: TimeInterval = 24 * 3600
    /// Images in the seeds' bodies (Markdown, HTML, Hugo's figure) are references too.
    public var bodyImages = false
    /// `serve`'s dashboard: auto, on or off (see `imgcache serve --help`), and its token.
    public var dashboard = "auto"
    public var dashboardToken: String?
    /// Variants made on request from signed URLs (`/v/…`).
    public var onDemand = OnDemandSettings()
    /// The object store's settings as given (`store`, `storeEndpoint`, …), made into `store`
    /// once every layer is applied.
    var storeSettings = StoreSettings()
    /// `index` as given: `postgres://…`, `sqlite` or empty; made into `index` the same way.
    var indexSetting: String?

    public init() {}

    /// Where the index is: `index` (a PostgreSQL location), else SQLite in the cache folder.
    public var indexLocation: IndexLocation {
        index.map { .postgres($0) } ?? .sqlite(cacheDirectory: cacheDirectory)
    }

    /// Thumbnail options for one rendition under these limits.
    public func options(for rendition: Rendition) -> ThumbnailOptions {
        var options = ThumbnailOptions(spec: rendition.spec, format: rendition.format, quality: rendition.quality, decode: decode,
                                       maxInputBytes: maxInputBytes)
        options.animate = rendition.animate
        return options
    }

    /// Every configured rendition (each variant in each of its formats), in order.
    public var renditions: [Rendition] { variants.renditions }
}

/// `store` and the keys that go with it, as written; `resolveStore` turns them into an `S3Location`.
struct StoreSettings: Sendable {
    var url: String?
    var endpoint: String?
    var region: String?
    var accessKey: String?
    var secretKey: String?
}

/// A configuration problem (exit status 2): the file, variable or flag, and what is wrong.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
