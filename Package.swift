// swift-tools-version:6.0
import PackageDescription

// Module graph: every target, dependencies pointing down only (README "Code tour").
//
//   imgcache (CLI) ──► ImgCacheServer ──► ImgCacheKit ──┬─► SeedDocuments ─► AtomicFiles, SafeText
//        │                  │                           ├─► Fetching ─────► CCurl, SafeText
//        │                  ├─► CJemalloc (malloc)      │
//        │                  └─► CacheStore ◄────────────┼─► CacheStore ───► AtomicFiles, CCurl (GRDB, PostgresNIO, Crypto)
//        │                                              └─► ImageCodecs ──► ImageCore
//        └─► ImageCodecs, ImageCore, SafeText                 └─► CImageCodecs ─► CJPEG, CPNG, CLCMS2, CWebP, CAVIF, CGIF,
//                                                                                       CTIFF, CHEIF, CJXL, CRSVG
//
// CacheStore is the only module that speaks SQL or builds a cache path; CImageCodecs holds
// every setjmp/longjmp. Test targets: TestSupport and one suite per module.
let package = Package(
    name: "imgcache",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "imgcache", targets: ["imgcache"]),
        .library(name: "ImgCacheKit", targets: ["ImgCacheKit"]),
        .library(name: "ImageCodecs", targets: ["ImageCodecs"]),
        .library(name: "ImageCore", targets: ["ImageCore"]),
        .library(name: "SeedDocuments", targets: ["SeedDocuments"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.20.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.20.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.36.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.30.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // System libraries.
        .systemLibrary(
            name: "CJPEG", pkgConfig: "libjpeg",
            providers: [.apt(["libjpeg-dev"]), .brew(["jpeg-turbo"])]),
        .systemLibrary(
            name: "CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"]), .brew(["curl"])]),
        .systemLibrary(
            name: "CPNG", pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"]), .brew(["libpng"])]),
        .systemLibrary(
            name: "CLCMS2", pkgConfig: "lcms2",
            providers: [.apt(["liblcms2-dev"]), .brew(["little-cms2"])]),
        .systemLibrary(
            name: "CWebP", pkgConfig: "libwebpdemux",
            providers: [.apt(["libwebp-dev"]), .brew(["webp"])]),
        .systemLibrary(
            name: "CAVIF", pkgConfig: "libavif",
            providers: [.apt(["libavif-dev"]), .brew(["libavif"])]),

        // Every C library call: probe, decode, encode, colour management. The only code that
        // uses setjmp/longjmp (libjpeg's and libpng's errors); lcms2, libwebp, libavif return codes.
        .systemLibrary(
            name: "CGIF", pkgConfig: "libgif",
            providers: [.apt(["libgif-dev"]), .brew(["giflib"])]),
        .systemLibrary(
            name: "CTIFF", pkgConfig: "libtiff-4",
            providers: [.apt(["libtiff-dev"]), .brew(["libtiff"])]),
        .systemLibrary(
            name: "CHEIF", pkgConfig: "libheif",
            providers: [.apt(["libheif-dev"]), .brew(["libheif"])]),
        .systemLibrary(
            name: "CJXL", pkgConfig: "libjxl",
            providers: [.apt(["libjxl-dev"]), .brew(["jpeg-xl"])]),
        .systemLibrary(
            name: "CRSVG", pkgConfig: "librsvg-2.0",
            providers: [.apt(["librsvg2-dev"]), .brew(["librsvg"])]),
        // The process's malloc (glibc's arenas fragment under a server's load); its figures in /metrics.
        .systemLibrary(
            name: "CJemalloc", pkgConfig: "jemalloc",
            providers: [.apt(["libjemalloc-dev"]), .brew(["jemalloc"])]),
        .target(name: "CImageCodecs", dependencies: ["CJPEG", "CPNG", "CLCMS2", "CWebP", "CAVIF", "CGIF", "CTIFF", "CHEIF", "CJXL", "CRSVG"],
                // WebPAnimEncoder is libwebpmux's (CWebP's pkg-config names libwebpdemux and libwebp).
                linkerSettings: [.linkedLibrary("webpmux")]),

        // Pure Swift: bitmaps, geometry, resampling, orientation.
        .target(name: "ImageCore"),

        // Format sniffing, EXIF location, decoders and encoders over the shim.
        // The format table: every format's sniff, media type, extensions, quality key, animation.
        .target(name: "ImageFormats"),
        .target(name: "ImageCodecs", dependencies: ["ImageCore", "ImageFormats", "CImageCodecs"]),

        // Text from hostile places made safe to print: control characters escaped, passwords redacted.
        .target(name: "SafeText"),

        // Temporary file, fsync, rename: the one way imgcache writes files.
        .target(name: "AtomicFiles"),

        // Seed documents: front matter, image references, byte-preserving write-back of isCached.
        .target(name: "SeedDocuments", dependencies: ["AtomicFiles", "SafeText", .product(name: "Yams", package: "Yams"),
                                                     .product(name: "TOMLKit", package: "TOMLKit")]),

        // libcurl multi-handle downloader: limits, SSRF guard, retries, conditional requests.
        .target(name: "Fetching", dependencies: ["CCurl", "SafeText"]),

        // The storage seam: blob stores (local folder, S3 over libcurl SigV4) and the index (SQLite via GRDB,
        // or PostgreSQL via PostgresNIO).
        .target(
            name: "CacheStore",
            dependencies: [
                "AtomicFiles", "CCurl", "ImageFormats",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),

        // Wires the modules together: the thumbnail pipeline and batch runner.
        .target(
            name: "ImgCacheKit",
            dependencies: [
                "ImageCore", "ImageCodecs", "SeedDocuments", "Fetching", "CacheStore", "AtomicFiles",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),

        // The HTTP server (Hummingbird 2): routes, controllers, error -> HTTP mapping, metrics, HTTP/2,
        // the dashboard (swift-mustache).
        .target(
            name: "ImgCacheServer",
            dependencies: [
                "ImgCacheKit", "CacheStore", "SafeText", "CJemalloc",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),

        .executableTarget(
            name: "imgcache",
            dependencies: [
                "ImgCacheKit", "CacheStore", "ImgCacheServer", "SafeText", "ImageCodecs", "ImageCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        // Tests. TestSupport finds Tests/Fixtures, reads its manifest, runs the built binary.
        .target(name: "TestSupport", dependencies: ["ImageCore", "CacheStore"], path: "Tests/TestSupport"),
        .testTarget(name: "ImageCoreTests", dependencies: ["ImageCore", "TestSupport"]),
        .testTarget(name: "ImageCodecsTests", dependencies: ["ImageCodecs", "ImageCore", "TestSupport"]),
        .testTarget(name: "SeedDocumentsTests", dependencies: ["SeedDocuments", "TestSupport"]),
        .testTarget(name: "FetchingTests", dependencies: ["Fetching", "TestSupport"]),
        // The storage conformance suite: every index and blob backend against the same behaviour.
        .testTarget(name: "CacheStoreTests", dependencies: ["CacheStore", "TestSupport"]),
        .testTarget(
            name: "ImgCacheServerTests",
            dependencies: [
                "ImgCacheServer", "ImgCacheKit", "CacheStore", "Fetching", "ImageCore", "ImageCodecs", "TestSupport", "imgcache", "CJemalloc",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),
        .testTarget(
            name: "ImgCacheKitTests",
            dependencies: [
                "ImgCacheKit", "ImageCodecs", "ImageCore", "SeedDocuments", "CacheStore", "Fetching", "TestSupport", "imgcache",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
    ]
)

// libFuzzer targets (fuzz/run.sh): only with IMGCACHE_FUZZ=1, built with -sanitize=fuzzer,address.
if Context.environment["IMGCACHE_FUZZ"] != nil {
    let fuzzing: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]
    package.targets += [
        .executableTarget(name: "FuzzDecode", dependencies: ["ImageCodecs", "ImageCore"], path: "fuzz/FuzzDecode",
                          swiftSettings: fuzzing),
        .executableTarget(name: "FuzzSeeds", dependencies: ["SeedDocuments", .product(name: "Yams", package: "Yams")],
                          path: "fuzz/FuzzSeeds", swiftSettings: fuzzing),
    ]
}
