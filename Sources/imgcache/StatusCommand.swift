import ArgumentParser
import Foundation
import ImgCacheKit

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show every image URL in the cache: isCached, variants, sizes, last error.",
        discussion: """
            Examples:
              imgcache status
              imgcache status --cache /var/cache/imgcache --json | jq '.images[] | select(.isCached | not)'
            """)

    @OptionGroup var cacheOptions: CacheOptions

    @Flag(help: "Print JSON on stdout.")
    var json = false

    func run() throws {
        let cache = try cacheOptions.open(for: .reading)
        let output = StreamedOutput()
        do {
            if json {
                let object = output.jsonObject()
                var summary: CacheStatus.Summary?
                try object.array("images") { summary = try CacheStatus.walk(cache) { object.append($0) } }
                summary.map(object.fields)
                object.finish()
            } else {
                var count = 0
                let summary = try CacheStatus.walk(cache) { image in
                    count += 1
                    output.write(Self.text(image))
                }
                output.write("\(count) images, \(summary.imagesCached) cached, \(summary.imagesFailed) failed; "
                    + "\(summary.originals) originals (\(ByteCount.format(summary.originalBytes))), "
                    + "\(summary.thumbnails) thumbnails (\(ByteCount.format(summary.thumbnailBytes)))\n")
            }
            output.flush()
        } catch {
            output.flush()
            FileHandle.standardError.write(Data("error: \(safeLine(error))\n".utf8))
            throw ExitCode(1)
        }
    }

    private static func text(_ image: CacheStatus.Image) -> String {
        var out = "\(image.isCached ? "cached " : "MISSING") \(image.url.safe)\n"
        var facts: [String] = ["status \(image.status)"]
        if let decoded = image.decoded { facts.append("image \(decoded)") }
        if let declared = image.declared, declared != image.decoded { facts.append("declared \(declared)") }
        if let bytes = image.bytes { facts.append("original \(ByteCount.format(bytes))") }
        out += "        " + facts.joined(separator: ", ") + "\n"
        for variant in image.variants {
            out += "        \(variant.name): \(variant.width)x\(variant.height) \(variant.format) \(ByteCount.format(variant.bytes))\n"
        }
        if let error = image.lastError { out += "        last error: \(error.safe)\n" }
        return out
    }
}
