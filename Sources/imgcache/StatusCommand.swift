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
        let status: CacheStatus
        do {
            status = try CacheStatus.load(cache)
        } catch {
            FileHandle.standardError.write(Data("error: \(safeLine(error))\n".utf8))
            throw ExitCode(1)
        }
        if json {
            printJSON(status)
            return
        }
        var out = ""
        for image in status.images {
            out += "\(image.isCached ? "cached " : "MISSING") \(image.url.safe)\n"
            var facts: [String] = ["status \(image.status)"]
            if let decoded = image.decoded { facts.append("image \(decoded)") }
            if let declared = image.declared, declared != image.decoded { facts.append("declared \(declared)") }
            if let bytes = image.bytes { facts.append("original \(ByteCount.format(bytes))") }
            out += "        " + facts.joined(separator: ", ") + "\n"
            for variant in image.variants {
                out += "        \(variant.name): \(variant.width)x\(variant.height) \(variant.format) \(ByteCount.format(variant.bytes))\n"
            }
            if let error = image.lastError { out += "        last error: \(error.safe)\n" }
        }
        out += "\(status.images.count) images, \(status.imagesCached) cached, \(status.imagesFailed) failed; "
            + "\(status.originals) originals (\(ByteCount.format(status.originalBytes))), "
            + "\(status.thumbnails) thumbnails (\(ByteCount.format(status.thumbnailBytes)))\n"
        FileHandle.standardOutput.write(Data(out.utf8))
    }
}
