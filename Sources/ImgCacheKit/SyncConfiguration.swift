import CacheStore
import Fetching
import Foundation
import ImageCodecs
import ImageCore
import Yams

/// Settings for sync (and later serve and prune), from `imgcache.yml`; command-line flags
/// override them. Every field is optional in the file.
///
///     cache: ./cache
///     index: postgres://imgcache@db.internal:5432/imgcache  # a shared index (or IMGCACHE_INDEX; default: SQLite in the cache folder)
///     store: s3://bucket/prefix  # originals and thumbnails in an S3-compatible store (default: the cache folder)
///     storeEndpoint: http://127.0.0.1:8333   # or AWS_ENDPOINT_URL; storeRegion or AWS_REGION;
///                                            # credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
///     replicaCache: 1GiB       # with a store: serve's local copies of hot files
///     concurrency: 16          # transfers in flight
///     perHost: 6               # connections per host
///     minTTL: 24h              # an original is not re-requested for at least this long
///     allowPrivate: false      # or a list of addresses: [127.0.0.1, "::1"]
///     allowedHosts: []         # if set, only these hosts (and their subdomains)
///     blockedHosts: [internal.example]
///     userAgent: "imgcache/0.1"
///     limits: {maxPixels: 50000000, maxBytes: 52428800, maxDownloadBytes: 52428800,
///              maxFrames: 1000, maxAnimationPixels: 1000000000}
///     variants:
///       thumb: {size: 320x320, fit: inside}                      # formats [webp, jpeg]
///       card:  {size: 640x360, fit: cover, quality: 85}          # JPEG quality
///       large: {size: 1280x1280, formats: [avif, webp, jpeg], quality: {jpeg: 82, webp: 80, avif: 60}}
///
/// In `formats`, `jpeg` is the fallback: JPEG, or PNG for an image with transparency; `png`
/// is PNG always. The fallback comes last; `avif` and `webp` before it, in preference order.
public struct SyncConfiguration: Sendable {
    public var cacheDirectory = "cache"
    /// A shared index; nil: IMGCACHE_INDEX if set, else SQLite in `cacheDirectory`.
    public var index: PostgresLocation?
    /// `index: sqlite` in the file: the cache folder's own, whatever IMGCACHE_INDEX says.
    public var indexIsLocal = false
    /// Where originals and thumbnails are kept when not in `cacheDirectory` (the index stays there).
    public var store: S3Location?
    /// With `store`: how much a serve replica keeps on local disk.
    public var replicaCacheBytes = 1 << 30
    public var variants = Variant.defaults
    public var fetch = FetchConfiguration()
    public var decode = DecodeOptions()
    public var maxInputBytes = ThumbnailOptions.defaultMaxInputBytes
    public var minTTL: TimeInterval = 24 * 3600
    /// `serve`'s dashboard: auto, on or off (see `imgcache serve --help`), and its token.
    public var dashboard: String?
    public var dashboardToken: String?

    public init() {}

    /// Reads a configuration file; errors name the file and the problem.
    public static func load(path: String) throws(ConfigurationError) -> SyncConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("\(path): cannot read the configuration file")
        }
        let file: File
        do {
            file = try YAMLDecoder().decode(File.self, from: String(decoding: data, as: UTF8.self))
        } catch {
            throw ConfigurationError("\(path): \(error)")
        }
        do {
            return try file.configuration()
        } catch {
            throw ConfigurationError("\(path): \(error.message)")
        }
    }

    /// The file's shape.
    struct File: Decodable {
        struct Limits: Decodable {
            var maxPixels: Int?; var maxBytes: Int?; var maxDownloadBytes: Int?; var maxFrames: Int?; var maxAnimationPixels: Int?
        }
        struct VariantEntry: Decodable {
            var size: String; var fit: String?; var format: String?; var formats: [String]?; var quality: QualityEntry?; var animate: Bool?
        }
        enum QualityEntry: Decodable {
            case jpeg(Int), each([String: Int])
            init(from decoder: Decoder) throws {
                let container = try decoder.singleValueContainer()
                if let value = try? container.decode(Int.self) { self = .jpeg(value) } else { self = .each(try container.decode([String: Int].self)) }
            }
        }
        enum AllowPrivate: Decodable {
            case all(Bool), addresses([String])
            init(from decoder: Decoder) throws {
                let container = try decoder.singleValueContainer()
                if let flag = try? container.decode(Bool.self) { self = .all(flag) } else { self = .addresses(try container.decode([String].self)) }
            }
        }
        var cache: String?
        var index: String?
        var store: String?
        var storeEndpoint: String?
        var storeRegion: String?
        var storeAccessKey: String?
        var storeSecretKey: String?
        var replicaCache: String?
        var concurrency: Int?
        var perHost: Int?
        var minTTL: String?
        var allowPrivate: AllowPrivate?
        var allowedHosts: [String]?
        var blockedHosts: [String]?
        var userAgent: String?
        var limits: Limits?
        var variants: [String: VariantEntry]?
        var dashboard: String?
        var dashboardToken: String?

        func configuration() throws(ConfigurationError) -> SyncConfiguration {
            var c = SyncConfiguration()
            if let cache { c.cacheDirectory = cache }
            if let dashboard {
                guard ["auto", "on", "off"].contains(dashboard) else { throw ConfigurationError("dashboard must be auto, on or off, not '\(dashboard)'") }
                c.dashboard = dashboard
            }
            c.dashboardToken = dashboardToken
            try applyBackends(to: &c)
            if let replicaCache {
                guard let bytes = ByteSizeText.parse(replicaCache) else { throw ConfigurationError("replicaCache '\(replicaCache)' is not a size like 512MB or 2GiB") }
                c.replicaCacheBytes = bytes
            }
            if let concurrency {
                guard concurrency >= 1 else { throw ConfigurationError("concurrency must be at least 1") }
                c.fetch.maxConcurrent = concurrency
            }
            if let perHost {
                guard perHost >= 1 else { throw ConfigurationError("perHost must be at least 1") }
                c.fetch.maxPerHost = perHost
            }
            if let minTTL {
                guard let seconds = DurationText.parse(minTTL) else { throw ConfigurationError("minTTL '\(minTTL)' is not a duration like 90s, 30m, 24h, 7d") }
                c.minTTL = seconds
            }
            switch allowPrivate {
            case .all(let flag)?: c.fetch.addressPolicy.allowAllPrivate = flag
            case .addresses(let list)?: c.fetch.addressPolicy.allowedAddresses = Set(list)
            case nil: break
            }
            if let allowedHosts { c.fetch.allowedHosts = allowedHosts }
            if let blockedHosts { c.fetch.blockedHosts = blockedHosts }
            if let userAgent { c.fetch.userAgent = userAgent }
            if let maxPixels = limits?.maxPixels { c.decode.maxPixels = maxPixels }
            if let maxFrames = limits?.maxFrames { c.decode.maxFrames = maxFrames }
            if let maxAnimationPixels = limits?.maxAnimationPixels { c.decode.maxAnimationPixels = maxAnimationPixels }
            if let maxBytes = limits?.maxBytes { c.maxInputBytes = maxBytes }
            if let maxDownload = limits?.maxDownloadBytes { c.fetch.maxBodyBytes = maxDownload }
            if let variants {
                guard !variants.isEmpty else { throw ConfigurationError("variants must name at least one variant") }
                c.variants = try variants.keys.sorted().map { (name) throws(ConfigurationError) -> Variant in
                    try Self.variant(name, variants[name]!)
                }
            }
            return c
        }

        /// `index` and `store`: where the index and the files are.
        private func applyBackends(to c: inout SyncConfiguration) throws(ConfigurationError) {
            if let index {
                do {
                    switch try IndexLocation.parse(index, cacheDirectory: c.cacheDirectory) {
                    case .postgres(let location): c.index = location
                    case .sqlite: c.indexIsLocal = true
                    }
                } catch {
                    throw ConfigurationError(error.message)
                }
            }
            if let store {
                do {
                    c.store = try S3Location.parse(store, endpoint: storeEndpoint, region: storeRegion,
                                                   accessKey: storeAccessKey, secretKey: storeSecretKey)
                } catch {
                    throw ConfigurationError(error.message)
                }
            }
        }

        static func variant(_ name: String, _ entry: VariantEntry) throws(ConfigurationError) -> Variant {
            guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                throw ConfigurationError("variant name '\(name)' may use letters, digits, - and _ only")
            }
            guard let size = Size(parsing: entry.size) else { throw ConfigurationError("variant \(name): size '\(entry.size)' is not WIDTHxHEIGHT") }
            guard let fit = FitMode(rawValue: entry.fit ?? "inside") else { throw ConfigurationError("variant \(name): fit must be inside or cover") }
            let formats = try Self.formats(name, entry)
            var quality = Variant.Quality()
            switch entry.quality {
            case .jpeg(let value)?: quality.values["jpeg"] = value
            case .each(let values)?:
                let keys = Variant.Quality.keys
                for (key, value) in values {
                    guard keys.contains(key) else {
                        throw ConfigurationError("variant \(name): quality names \(keys.joined(separator: ", ")), not '\(key)'")
                    }
                    quality.values[key] = value
                }
            case nil: break
            }
            for value in quality.values.values where !(1...100).contains(value) {
                throw ConfigurationError("variant \(name): quality must be 1-100, not \(value)")
            }
            var variant = Variant(name: name, spec: ThumbnailSpec(box: size, fit: fit), formats: formats, quality: quality)
            variant.animate = entry.animate ?? true
            return variant
        }

        /// `formats: [avif, webp, jpeg]` (jpeg: the fallback, PNG where transparent), or the older
        /// single `format: auto|jpeg|png` (then WebP is offered before it, as by default).
        static func formats(_ name: String, _ entry: VariantEntry) throws(ConfigurationError) -> [OutputFormat] {
            if entry.format != nil && entry.formats != nil {
                throw ConfigurationError("variant \(name): give formats (a list) or format, not both")
            }
            if let single = entry.format {
                guard let fallback = OutputFormat(rawValue: single), !fallback.isModern else {
                    throw ConfigurationError("variant \(name): format must be auto, jpeg or png (list WebP and AVIF in formats)")
                }
                return [.webp, fallback]
            }
            guard let list = entry.formats else { return Variant.defaultFormats }
            var formats: [OutputFormat] = []
            for text in list {
                // `jpeg` in a list is the fallback: JPEG, or PNG where transparent.
                guard var format = OutputFormat(rawValue: text) else {
                    let names = ImageFormat.encodable.map(\.rawValue).reversed().joined(separator: ", ")
                    throw ConfigurationError("variant \(name): unknown format '\(text)' (\(names))")
                }
                if format == .jpeg { format = .auto }
                guard !formats.contains(format) else { throw ConfigurationError("variant \(name): format '\(text)' is listed twice") }
                formats.append(format)
            }
            guard let last = formats.last, !last.isModern, formats.dropLast().allSatisfy(\.isModern) else {
                throw ConfigurationError("variant \(name): formats must end with the fallback (jpeg or png), after any of avif and webp")
            }
            return formats
        }
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

/// A configuration problem (exit status 2).
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// "90s", "30m", "24h", "7d", or plain seconds.
public enum DurationText {
    public static func parse(_ text: String) -> TimeInterval? {
        let text = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [Character: TimeInterval] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800]
        if let last = text.last, let unit = units[last], let value = Double(text.dropLast()), value >= 0 { return value * unit }
        if let value = Double(text), value >= 0 { return value }
        return nil
    }
}

/// Byte sizes as people write them: `500MB` (decimal), `2GiB` (binary), `1.5G` (a bare letter
/// is binary, as in `du -h`), or a plain number of bytes.
public enum ByteSizeText {
    public static func parse(_ text: String) -> Int? {
        let text = text.trimmingCharacters(in: .whitespaces).lowercased()
        let (ki, mi, gi, ti) = (1024.0, 1024.0 * 1024, 1024.0 * 1024 * 1024, 1024.0 * 1024 * 1024 * 1024)
        let units: [(String, Double)] = [
            ("kib", ki), ("mib", mi), ("gib", gi), ("tib", ti),
            ("kb", 1e3), ("mb", 1e6), ("gb", 1e9), ("tb", 1e12),
            ("k", ki), ("m", mi), ("g", gi), ("t", ti), ("b", 1),
        ]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let value = Double(text.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), value >= 0,
                  value * scale < Double(Int.max) else { return nil }
            return Int((value * scale).rounded())
        }
        guard let value = Int(text), value >= 0 else { return nil }
        return value
    }
}

extension SyncConfiguration {
    /// Where the index is: `index`, else IMGCACHE_INDEX, else SQLite in the cache folder.
    public func indexLocation(environment: [String: String] = ProcessInfo.processInfo.environment) throws(CacheError) -> IndexLocation {
        if let index { return .postgres(index) }
        if indexIsLocal { return .sqlite(cacheDirectory: cacheDirectory) }
        return try IndexLocation.parse(nil, cacheDirectory: cacheDirectory, environment: environment)
    }

    /// The blob store this configuration names: the S3 bucket of `store` (created if missing
    /// when `creating`), else the cache folder.
    public func openBlobStore(creating: Bool = false) throws(CacheError) -> any BlobStorage {
        guard let store else { return try BlobStore(root: URL(fileURLWithPath: cacheDirectory)) }
        let bucket = S3BlobStore(store)
        if creating { try bucket.createBucketIfMissing() }
        return bucket
    }
}
