import ArgumentParser
import Foundation
import ImgCacheKit

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the index, re-hash every original and thumbnail, and match every row to its file.",
        discussion: """
            Runs SQLite's integrity check on the index, then reports, each with its path and reason:
              missing     a row whose file is gone
              corrupt     the index file; an original whose bytes no longer hash to its name; a \
            thumbnail whose bytes no longer hash to the SHA-256 recorded when it was written
              orphaned    a file no row points at (older than --grace: a sync writes files just before rows)
              temporary   a temporary file left by a process that is no longer running
            --repair makes damaged or missing thumbnails again from their originals (with the \
            configured variants), and removes corrupt originals with their thumbnails and rows, \
            the rows of missing files, orphans and temporary files; the next sync fetches what was \
            removed. A damaged index is never repaired from: --repair then changes nothing.

            Exit status: 0 the cache is sound, 1 something was wrong (also after --repair fixed it), 2 usage.

            Examples:
              imgcache verify
              imgcache verify --repair && imgcache sync seeds/
              imgcache verify --json | jq '.problems[] | select(.kind == "corrupt")'
            """)

    @OptionGroup var cacheOptions: CacheOptions

    @Flag(help: "Remove what is damaged so the next sync restores it.")
    var repair = false

    @Option(help: ArgumentHelp("Files younger than this are not called orphans.", valueName: "age"))
    var grace = "1h"

    @Option(help: ArgumentHelp("Hashing threads (default: one per core).", valueName: "n"))
    var jobs: Int?

    @Flag(help: "Print a JSON report on stdout.")
    var json = false

    @Flag(name: .shortAndLong, help: "No progress or summary (problems are still listed).")
    var quiet = false

    func validate() throws {
        if DurationText.parse(grace) == nil { throw ValidationError("--grace '\(grace)' is not a duration like 1h") }
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
    }

    func run() throws {
        let cache = try cacheOptions.open(for: .reading)
        let progress = ProgressReporter(total: 0, label: "verify", enabled: !quiet && !json)
        let report = try progress.run { update in
            try Verifier(cache)
                .run(repair: repair, grace: DurationText.parse(grace) ?? 3600, jobs: jobs, progress: update)
        }
        if json {
            printJSON(report)
        } else {
            var out = ""
            for problem in report.problems {
                out += "\(problem.kind.rawValue) \(problem.item): \(problem.path): \(problem.detail)\n"
            }
            FileHandle.standardOutput.write(Data(out.utf8))
        }
        if !quiet {
            let rate = report.seconds > 0 ? Double(report.bytesHashed) / report.seconds : 0
            var summary = "verify: index checked, \(report.originalsChecked) originals and \(report.thumbnailsChecked) thumbnails "
                + "re-hashed (\(ByteCount.format(report.bytesHashed)), \(ByteCount.format(Int(rate)))/s"
                + (report.thumbnailsSizeOnly > 0 ? "; \(report.thumbnailsSizeOnly) older thumbnails by size only" : "") + "): "
                + (report.isClean ? "no problems" : "\(report.count(.missing)) missing, \(report.count(.corrupt)) corrupt, "
                    + "\(report.count(.orphaned)) orphaned, \(report.count(.temporary)) temporary")
                + String(format: ", %.2f s\n", report.seconds)
            if let refused = report.repairRefused {
                summary += "      not repaired: \(refused); restore it from a backup, or move it aside and run `imgcache sync`\n"
            } else if report.repaired {
                summary += "      repaired: \(report.thumbnailsRemade) thumbnails made again from their originals; "
                    + "\(report.urlsNoLongerCached.count) URLs are no longer cached (run `imgcache sync` to restore them)\n"
            } else if report.problems.contains(where: { $0.item == "index" }) {
                summary += "      the index is damaged: restore it from a backup, or move it aside and run `imgcache sync` "
                    + "to build a new one (stored files are reused by content)\n"
            } else if !report.isClean {
                summary += "      run `imgcache verify --repair`, then `imgcache sync`, to fix\n"
            }
            FileHandle.standardError.write(Data(summary.utf8))
        }
        if !report.isClean { throw ExitCode(1) }
    }
}

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Summarise the cache: objects, bytes by kind, hits and misses, last sync and prune, largest images.",
        discussion: """
            Examples:
              imgcache stats
              imgcache stats --cache /var/cache/imgcache --json | jq .hitRate
            """)

    @OptionGroup var cacheOptions: CacheOptions

    @Option(help: ArgumentHelp("How many of the largest images to list.", valueName: "n"))
    var largest = 5

    @Flag(help: "Print JSON on stdout.")
    var json = false

    func run() throws {
        let cache = try cacheOptions.open(for: .reading)
        let stats: CacheStats
        do {
            stats = try CacheStats.load(cache, largest: max(0, largest))
        } catch {
            FileHandle.standardError.write(Data("error: \(safeLine(error))\n".utf8))
            throw ExitCode(1)
        }
        if json {
            printJSON(stats)
            return
        }
        func row(_ label: String, _ value: String) -> String { label.padding(toLength: 24, withPad: " ", startingAt: 0) + value + "\n" }
        func when(_ date: Date?) -> String {
            guard let date else { return "never" }
            let ago = Int(Date().timeIntervalSince(date))
            let text = ago < 120 ? "\(ago) s" : ago < 7200 ? "\(ago / 60) min" : ago < 172_800 ? "\(ago / 3600) h" : "\(ago / 86400) days"
            return ISO8601DateFormatter().string(from: date) + " (\(text) ago)"
        }
        var out = row("cache directory", stats.cacheDirectory)
        out += row("image URLs", "\(stats.urls): \(stats.imagesCached) cached, \(stats.imagesFailed) failed, \(stats.imagesPruned) pruned")
        out += row("originals", "\(stats.originals)  \(ByteCount.format(stats.originalBytes))")
        out += row("thumbnails", "\(stats.thumbnails)  \(ByteCount.format(stats.thumbnailBytes))")
        for variant in stats.variants {
            out += row("  \(variant.name)", "\(variant.count)  \(ByteCount.format(variant.bytes))")
        }
        for format in stats.formats {
            out += row("  as \(format.name)", "\(format.count)  \(ByteCount.format(format.bytes))")
        }
        out += row("colour converted", "\(stats.originalsConverted) originals (a profile other than sRGB, now sRGB)")
        out += row("index", ByteCount.format(stats.indexBytes))
        out += row("total", ByteCount.format(stats.totalBytes))
        let rate = stats.hitRate.map { String(format: " (%.1f%% hits)", $0 * 100) } ?? ""
        out += row("served hits / misses", "\(stats.hits) / \(stats.misses)\(rate)")
        out += row("last sync", when(stats.lastSync))
        out += row("last prune", when(stats.lastPrune) + (stats.lastPruneBytes.map { ", \(ByteCount.format($0)) reclaimed" } ?? ""))
        if !stats.largest.isEmpty {
            out += "largest images:\n"
            for image in stats.largest {
                out += "  \(ByteCount.format(image.totalBytes).padding(toLength: 9, withPad: " ", startingAt: 0)) "
                    + "\(image.width)x\(image.height)  \(image.url ?? "sha256:\(image.digest.prefix(16))")\n"
            }
        }
        FileHandle.standardOutput.write(Data(out.utf8))
    }
}
