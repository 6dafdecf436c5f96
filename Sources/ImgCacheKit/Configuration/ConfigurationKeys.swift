import Fetching
import Foundation
import ImageCodecs

extension Configuration {
    /// Every key, in the order the docs and the example file list them. A new setting is one
    /// entry here (and its property on `Configuration`); the file, the environment, the flags
    /// that name it and the generated docs all read this table.
    public static let keys: [ConfigKey] = storage + seeds + fetching + limits + [variantsKey] + serving + onDemand

    static let seeds: [ConfigKey] = [
        ConfigKey("bodyImages", "`true` or `false`", default: "false",
                  "Also fetch the images a seed's body shows: Markdown `![](…)` and reference images, HTML `<img src srcset>`, Hugo's `figure` (never written back).") { value, c throws(ConfigurationError) in
            c.bodyImages = try value.bool("bodyImages")
        },
    ]

    static let storage: [ConfigKey] = [
        ConfigKey("cache", "path", default: "cache", "Where originals, thumbnails and the SQLite index live (the --cache flag).") { value, c throws(ConfigurationError) in
            c.cacheDirectory = try value.string("cache")
        },
        ConfigKey("index", "`sqlite` or `postgres://user@host:port/database`", default: "sqlite", environment: ["IMGCACHE_INDEX"],
                  example: "postgres://imgcache@db.internal:5432/imgcache",
                  "A shared index in PostgreSQL (the password in the URL or PGPASSWORD), or the cache folder's own SQLite.") { value, c throws(ConfigurationError) in
            c.indexSetting = try value.string("index")
        },
        ConfigKey("store", "`s3://bucket/prefix`", default: "", example: "s3://images/site",
                  "Keep originals and thumbnails in an S3-compatible bucket instead of the cache folder.") { value, c throws(ConfigurationError) in
            c.storeSettings.url = try value.string("store")
        },
        ConfigKey("storeEndpoint", "URL", default: "", environment: ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"],
                  example: "http://127.0.0.1:8333", "The object store's address (with store).") { value, c throws(ConfigurationError) in
            c.storeSettings.endpoint = try value.string("storeEndpoint")
        },
        ConfigKey("storeRegion", "text", default: "us-east-1", environment: ["AWS_REGION", "AWS_DEFAULT_REGION"],
                  "The region requests are signed for (with store).") { value, c throws(ConfigurationError) in
            c.storeSettings.region = try value.string("storeRegion")
        },
        ConfigKey("storeAccessKey", "text", default: "", environment: ["AWS_ACCESS_KEY_ID"], example: "AKIA…",
                  "The access key id (with store); better in the environment than in a file.") { value, c throws(ConfigurationError) in
            c.storeSettings.accessKey = try value.string("storeAccessKey")
        },
        ConfigKey("storeSecretKey", "text", default: "", environment: ["AWS_SECRET_ACCESS_KEY"], example: "…",
                  "The secret access key (with store); better in the environment than in a file.") { value, c throws(ConfigurationError) in
            c.storeSettings.secretKey = try value.string("storeSecretKey")
        },
        ConfigKey("replicaCache", "size", default: "1GiB", "With store: how much of the hot files a serve replica keeps on local disk.") { value, c throws(ConfigurationError) in
            c.replicaCacheBytes = try value.bytes("replicaCache")
        },
    ]

    static let fetching: [ConfigKey] = [
        ConfigKey("concurrency", "integer ≥ 1", default: "16", "Transfers in flight at once (the --concurrency flag).") { value, c throws(ConfigurationError) in
            c.fetch.maxConcurrent = try value.int("concurrency", atLeast: 1)
        },
        ConfigKey("perHost", "integer ≥ 1", default: "6", "Connections to one host at once.") { value, c throws(ConfigurationError) in
            c.fetch.maxPerHost = try value.int("perHost", atLeast: 1)
        },
        ConfigKey("minTTL", "duration", default: "24h", "An original is not requested again for at least this long, whatever its max-age.") { value, c throws(ConfigurationError) in
            c.minTTL = try value.duration("minTTL")
        },
        ConfigKey("allowPrivate", "`true`, `false` or a list of addresses", default: "false",
                  "Fetch from loopback and private addresses: all of them, or only those listed (the --allow-private flag).") { value, c throws(ConfigurationError) in
            if value.node.sequence != nil {
                c.fetch.addressPolicy.allowedAddresses = Set(try value.strings("allowPrivate"))
            } else {
                c.fetch.addressPolicy.allowAllPrivate = try value.bool("allowPrivate")
            }
        },
        ConfigKey("allowedHosts", "list of host names", default: "[]", "If not empty, only these hosts and their subdomains are fetched.") { value, c throws(ConfigurationError) in
            c.fetch.allowedHosts = try value.strings("allowedHosts")
        },
        ConfigKey("blockedHosts", "list of host names", default: "[]", "These hosts and their subdomains are never fetched.") { value, c throws(ConfigurationError) in
            c.fetch.blockedHosts = try value.strings("blockedHosts")
        },
        ConfigKey("userAgent", "text", default: "\"\(FetchConfiguration().userAgent)\"", "The User-Agent header of every request.") { value, c throws(ConfigurationError) in
            c.fetch.userAgent = try value.string("userAgent")
        },
    ]

    static let limits: [ConfigKey] = [
        ConfigKey("limits.maxPixels", "integer ≥ 1", default: String(DecodeOptions.defaultMaxPixels),
                  "Refuse an image whose header declares more pixels, before any pixel memory is allocated.") { value, c throws(ConfigurationError) in
            c.decode.maxPixels = try value.int("maxPixels", atLeast: 1)
        },
        ConfigKey("limits.maxBytes", "integer ≥ 1", default: String(ThumbnailOptions.defaultMaxInputBytes), "Refuse an original larger than this many bytes.") { value, c throws(ConfigurationError) in
            c.maxInputBytes = try value.int("maxBytes", atLeast: 1)
        },
        ConfigKey("limits.maxDownloadBytes", "integer ≥ 1", default: String(FetchConfiguration().maxBodyBytes),
                  "Stop a download at this many bytes (and refuse a larger Content-Length before the body).") { value, c throws(ConfigurationError) in
            c.fetch.maxBodyBytes = try value.int("maxDownloadBytes", atLeast: 1)
        },
        ConfigKey("limits.maxFrames", "integer ≥ 1", default: String(DecodeOptions().maxFrames), "Refuse an animation with more frames.") { value, c throws(ConfigurationError) in
            c.decode.maxFrames = try value.int("maxFrames", atLeast: 1)
        },
        ConfigKey("limits.maxAnimationPixels", "integer ≥ 1", default: String(DecodeOptions().maxAnimationPixels),
                  "Refuse an animation whose frames hold more pixels in all.") { value, c throws(ConfigurationError) in
            c.decode.maxAnimationPixels = try value.int("maxAnimationPixels", atLeast: 1)
        },
    ]

    static let variantsKey = ConfigKey(
        "variants", "mapping of name → `{size, fit, formats, quality, animate}`", default: VariantsSetting.defaultText,
        "The thumbnails made of every image, each in every format listed (see Variants below).") { value, c throws(ConfigurationError) in
        c.variants = try VariantsSetting.parse(value.node)
    }

    static let serving: [ConfigKey] = [
        ConfigKey("dashboard", "`auto`, `on` or `off`", default: "auto",
                  "serve's page at /: auto is on for a loopback address or with a token (the --dashboard flag).") { value, c throws(ConfigurationError) in
            let mode = try value.string("dashboard")
            guard ["auto", "on", "off"].contains(mode) else { throw ConfigurationError("dashboard must be auto, on or off, not '\(mode)'") }
            c.dashboard = mode
        },
        ConfigKey("dashboardToken", "text, 16 characters or more", default: "", environment: ["IMGCACHE_DASHBOARD_TOKEN"], example: "…",
                  "The dashboard asks for this token (the --dashboard-token flag).") { value, c throws(ConfigurationError) in
            c.dashboardToken = try value.string("dashboardToken")
        },
    ]

    static let onDemand: [ConfigKey] = [
        ConfigKey("signingKeys", "list of hex keys (16 bytes or more)", default: "[]", environment: ["IMGCACHE_SIGNING_KEYS"],
                  example: "[…]  # openssl rand -hex 32",
                  "Keys that sign on-demand URLs (/v/…), HMAC-SHA256; the first signs, any is accepted (rotate by adding a new first key).") { value, c throws(ConfigurationError) in
            c.onDemand.signingKeys = try value.strings("signingKeys")
        },
        ConfigKey("signingSalts", "list of hex salts, one per key", default: "[]", environment: ["IMGCACHE_SIGNING_SALTS"],
                  example: "[…]  # openssl rand -hex 32",
                  "The salt that goes with each signing key, in the same order.") { value, c throws(ConfigurationError) in
            c.onDemand.signingSalts = try value.strings("signingSalts")
        },
        ConfigKey("onDemandWidths", "list of widths", default: "[]", example: "[320, 640, 960, 1280]",
                  "Widths anyone may ask for without a signature: /v/_/w:<width>/<sha256>.<ext> (Next.js's deviceSizes); any other unsigned URL is 403.") { value, c throws(ConfigurationError) in
            c.onDemand.widths = try value.widths("onDemandWidths")
        },
        ConfigKey("srcsetWidths", "list of widths", default: "[]", example: "[320, 640, 1280]",
                  "The manifest and export give each image a srcset of on-demand URLs at these widths (signed, or unsigned where onDemandWidths allows).") { value, c throws(ConfigurationError) in
            c.onDemand.srcsetWidths = try value.widths("srcsetWidths")
        },
        ConfigKey("onDemand.maxPixels", "integer ≥ 1", default: String(OnDemandSettings().maxPixels),
                  "The largest on-demand variant, width × height after dpr: larger requests are 400 before any work.") { value, c throws(ConfigurationError) in
            c.onDemand.maxPixels = try value.int("maxPixels", atLeast: 1)
        },
        ConfigKey("onDemand.maxDPR", "number ≥ 1", default: "3", "The largest dpr an on-demand URL may ask for (400 above it).") { value, c throws(ConfigurationError) in
            let text = try value.string("maxDPR")
            guard let dpr = Double(text), dpr >= 1, dpr <= 10 else { throw ConfigurationError("maxDPR must be a number from 1 to 10, not '\(text)'") }
            c.onDemand.maxDPR = dpr
        },
        ConfigKey("onDemand.workers", "integer ≥ 0", default: "0", "On-demand renders at once (0: one per core).") { value, c throws(ConfigurationError) in
            c.onDemand.workers = try value.int("workers", atLeast: 0)
        },
        ConfigKey("onDemand.queue", "integer ≥ 0", default: String(OnDemandSettings().queue),
                  "Renders that may wait for a worker; a request beyond them is answered 429 with Retry-After.") { value, c throws(ConfigurationError) in
            c.onDemand.queue = try value.int("queue", atLeast: 0)
        },
        ConfigKey("onDemand.failureTTL", "duration", default: "60s",
                  "A render that failed is answered from memory for this long, without decoding again.") { value, c throws(ConfigurationError) in
            c.onDemand.failureTTL = try value.duration("failureTTL")
        },
    ]
}
