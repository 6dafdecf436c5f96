import ArgumentParser
import Foundation
import ImageCore
import ImgCacheKit

extension Gravity: ExpressibleByArgument {
    public init?(argument: String) {
        guard let options = try? VariantOptions(parsing: "w:1,h:1,fit:cover,g:\(argument)") else { return nil }
        self = options.gravity
    }
}

struct URLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "url",
        abstract: "Print the signed URL of a variant made on request by imgcache serve (/v/…).",
        discussion: """
            SOURCE is an image URL the cache holds (as a seed names it) or its original's SHA-256. \
            The options are made canonical (dpr folded into the width and height, defaults left \
            out) and the path is signed with the first of signingKeys (HMAC-SHA256 with its salt); \
            without keys, only a bare width from onDemandWidths can be given, unsigned (`_`).

            Exit status: 0 printed, 1 the image is not cached or the URL cannot be signed.

            Examples:
              imgcache url https://example.com/photo.jpg --width 480
              imgcache url https://example.com/photo.jpg --width 600 --height 600 --fit cover --gravity attention --format webp
              imgcache url https://example.com/photo.jpg --width 1200 --height 630 --fit cover   # centred on the seed's focus
              imgcache url 3f5a…e9 --width 240 --dpr 2 --base https://img.example.com --json
            """)

    @Argument(help: "An image URL in the cache, or its original's SHA-256.")
    var source: String

    @Option(help: "Width in pixels.") var width: Int?
    @Option(help: "Height in pixels.") var height: Int?
    @Option(help: "contain, cover or fill (with both --width and --height).") var fit: String = "contain"
    @Option(help: "For cover: center, attention, entropy or fp:<x>:<y> (default: the seed's focus: [x, y], else center).")
    var gravity: Gravity?
    @Option(help: "Quality 1…100 (default: the format's).") var quality: Int?
    @Option(help: "Device pixel ratio: multiplies the width and height.") var dpr: Double = 1
    @Option(help: "jpg, png, webp, avif, or auto (the server picks by Accept).") var format: String = "auto"
    @Option(help: ArgumentHelp("Put this address before the path.", valueName: "url")) var base: String = ""

    @OptionGroup var cacheOptions: CacheOptions

    @Flag(help: "Print JSON on stdout: url, digest, options.") var json = false

    func run() throws {
        let cache = try cacheOptions.open(for: .reading)
        var text = [width.map { "w:\($0)" }, height.map { "h:\($0)" }, "fit:\(fit)", quality.map { "q:\($0)" }]
            .compactMap { $0 }.joined(separator: ",")
        if let gravity = gravity ?? Self.seedFocus(of: source, in: cache) { text += ",g:" + VariantOptions.text(gravity) }
        if dpr != 1 { text += ",dpr:" + VariantOptions.decimal(dpr) }
        let options: VariantOptions
        do {
            options = try VariantOptions(parsing: text)
        } catch {
            throw ValidationError("\(error)")
        }
        guard ["auto", "jpg", "jpeg", "png", "webp", "avif"].contains(format) else { throw ValidationError("--format must be jpg, png, webp, avif or auto") }
        let digest = try Self.digest(of: source, in: cache)
        let urls = try VariantURLs(cache.configuration.onDemand, base: base)
        guard let path = urls.path(digest: digest, options: options, ext: format == "jpeg" ? "jpg" : format) else {
            FileHandle.standardError.write(Data("error: no signingKeys are configured, and only a bare width from onDemandWidths may be unsigned\n".utf8))
            throw ExitCode(1)
        }
        let url = urls.base + path
        if json {
            printJSON(["url": url, "digest": digest, "options": String(path.split(separator: "/")[2])])
        } else {
            print(url)
        }
    }

    /// The focal point a seed gives the image URL `source` (`focus: [x, y]`), if any.
    static func seedFocus(of source: String, in cache: Cache) -> Gravity? {
        guard let focus = (try? cache.index.seedReferences(urls: [source]))?.lazy.compactMap(\.focus).first else { return nil }
        return .focus(x: focus.x, y: focus.y)
    }

    /// The original's digest: `source` itself, or the cached original of the URL `source`.
    static func digest(of source: String, in cache: Cache) throws -> String {
        if source.utf8.count == 64, source.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) {
            if (try? cache.index.object(source)) != nil { return source }
        } else if let digest = try? cache.index.source(source)?.digest {
            return digest
        }
        FileHandle.standardError.write(Data("error: \(safeLine(source)) is not cached (sync it first)\n".utf8))
        throw ExitCode(1)
    }
}
