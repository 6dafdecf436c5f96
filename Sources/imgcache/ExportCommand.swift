import ArgumentParser
import Foundation
import ImgCacheKit

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Publish the cached thumbnails into a folder, with a JSON manifest, for a static site build.",
        discussion: """
            Hard-links (or copies, across file systems) every cached thumbnail of the configured \
            variants into OUT under a content-hashed name, and writes the manifest: for each image \
            URL, isCached, declared and actual size, a placeholder (BlurHash and dominant colour) \
            and, per variant, its URL under --base-url, width, height, bytes and format.

            With srcsetWidths configured, each image also gets a srcset of on-demand variant URLs             (signed with signingKeys, or unsigned for widths in onDemandWidths) on --variant-server,             the address of an imgcache serve that makes them.

            A second export changes nothing. Files an earlier export put in OUT that are no longer \
            cached are removed; nothing else in OUT is touched.

            Examples:
              imgcache export --out site/static/img --manifest site/data/imgcache.json --base-url /img/
              imgcache export --out public/img --seed seeds/2025/article.md --json
              imgcache export --out public/img --variant-server https://img.example.com
            """)

    @Option(help: ArgumentHelp("Folder to publish the thumbnails in.", valueName: "dir"))
    var out: String

    @Option(help: ArgumentHelp("Where to write the manifest (default OUT/manifest.json).", valueName: "file"))
    var manifest: String?

    @Option(help: ArgumentHelp("URL prefix of the published files in the manifest.", valueName: "url"))
    var baseURL: String = "/img/"

    @Option(help: ArgumentHelp("Only the images this seed file references.", valueName: "path"))
    var seed: String?

    @Option(help: ArgumentHelp("The imgcache server the srcset URLs point at (default: paths without a host).", valueName: "url"))
    var variantServer: String = ""

    @OptionGroup var cacheOptions: CacheOptions

    @Flag(help: "Print the export report as JSON on stdout.")
    var json = false

    @Flag(name: .shortAndLong, help: "No summary on stderr.")
    var quiet = false

    func run() throws {
        let cache = try cacheOptions.open(for: .reading)
        let report: ExportReport
        do {
            report = try Exporter.export(cache, variants: cache.configuration.variants, outputDirectory: out, manifestPath: manifest,
                                         baseURL: baseURL, seed: seed, variantServer: variantServer)
        } catch {
            FileHandle.standardError.write(Data("error: \(safeLine(error))\n".utf8))
            throw ExitCode(1)
        }
        if json { printJSON(report) }
        if !quiet {
            let line = "export: \(report.images) images, \(report.files) files (\(report.linked) linked, \(report.copied) copied, "
                + "\(report.unchanged) unchanged, \(report.removed) removed); manifest \(report.manifestPath)"
                + (report.manifestWritten ? " written" : " unchanged") + "\n"
            FileHandle.standardError.write(Data(line.utf8))
        }
    }
}
