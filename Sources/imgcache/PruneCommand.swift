import ArgumentParser
import Foundation
import ImgCacheKit

/// The rules prune applies; shared by `imgcache prune` and `imgcache serve --prune-every`.
struct PruneOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Evict least recently used images until the cache is at most this size (500MB, 2GiB, 1.5G).",
                               valueName: "size"))
    var maxSize: String?

    @Option(help: ArgumentHelp("Remove images neither referenced by a sync, served nor written for longer than this (30d, 12h).",
                               valueName: "age"))
    var maxAge: String?

    @Option(help: ArgumentHelp("Remove images of URLs that no seed under this folder references any more.", valueName: "seeds-dir"))
    var unreferenced: String?

    @Option(help: ArgumentHelp("Never remove anything written, referenced or served within this long.", valueName: "age"))
    var grace = "1h"

    @Option(help: ArgumentHelp("Write isCached: false into the seeds under this folder for every URL that lost its image.",
                               valueName: "seeds-dir"))
    var writeBack: String?

    var isEmpty: Bool { maxSize == nil && maxAge == nil && unreferenced == nil }

    func validate() throws {
        if let maxSize, ByteSizeText.parse(maxSize) == nil { throw ValidationError("--max-size '\(maxSize)' is not a size like 500MB or 2GiB") }
        if let maxAge, DurationText.parse(maxAge) == nil { throw ValidationError("--max-age '\(maxAge)' is not a duration like 12h or 30d") }
        if DurationText.parse(grace) == nil { throw ValidationError("--grace '\(grace)' is not a duration like 1h or 30m") }
        for folder in [unreferenced, writeBack].compactMap({ $0 }) {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("\(folder) is not a folder")
            }
        }
    }

    var policy: PrunePolicy {
        PrunePolicy(maxBytes: maxSize.flatMap(ByteSizeText.parse), maxAge: maxAge.flatMap(DurationText.parse),
                    removeUnreferenced: unreferenced != nil, grace: DurationText.parse(grace) ?? PrunePolicy.defaultGrace)
    }
}

struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Remove cached images by size, age, or because no seed references them any more.",
        discussion: """
            The unit of removal is the whole image: its original and all its thumbnails. Either \
            half alone would leave an image that cannot be served or cannot make a new variant, \
            still costing space; whole images keep isCached exact and one sync restores them.

            Rules, applied in this order:
              --unreferenced DIR  images of URLs that no seed under DIR names (documents decide)
              --max-age AGE       images not referenced by a sync, served, or written within AGE
              --max-size SIZE     then least recently used first (access ledger of `serve`, sync
                                  references, writes) until the cache is at most SIZE
            Nothing used within --grace (default 1h) is removed, so a sync running at the same \
            time is safe. Index rows are deleted in one transaction before the files are unlinked; \
            a client streaming a file when it is pruned still gets all of it.

            Removed images become isCached: false in the index (and, with --write-back DIR, in \
            the seeds); the next sync fetches them again. Each removed image is printed on stdout, \
            the totals on stderr. Exit status: 0 done (also when nothing matched), 1 an error \
            (an unreadable seed under --unreferenced, a failed write-back), 2 usage.

            Examples:
              imgcache prune --max-size 2GiB --dry-run
              imgcache prune --unreferenced seeds/ --write-back seeds/
              imgcache prune --max-age 30d --max-size 10GB --cache /var/cache/imgcache --json
            """)

    @OptionGroup var cacheOptions: CacheOptions
    @OptionGroup var rules: PruneOptions

    @Flag(help: "Print what would be removed; change nothing.")
    var dryRun = false

    @Flag(help: "Print a JSON report on stdout.")
    var json = false

    @Flag(name: .shortAndLong, help: "No per-image lines or summary (errors are still reported).")
    var quiet = false

    func validate() throws {
        if rules.isEmpty { throw ValidationError("nothing to do: give --max-size, --max-age or --unreferenced") }
    }

    func run() throws {
        let pruner = Pruner(try cacheOptions.open(for: .reading))
        let report: PruneReport
        do {
            report = try pruner.run(policy: rules.policy, unreferencedSeeds: rules.unreferenced,
                                    writeBackSeeds: rules.writeBack, dryRun: dryRun)
        } catch {
            FileHandle.standardError.write(Data("error: \(safeLine(error))\n".utf8))
            throw ExitCode(1)
        }
        for problem in report.problems { FileHandle.standardError.write(Data("error: \(safeLine(problem))\n".utf8)) }
        do {
            if json {
                try Self.printJSON(report)
            } else if !quiet {
                try Self.printRemovals(report)
            }
        } catch {
            FileHandle.standardError.write(Data("error: \(safeLine(error))\n".utf8))
            throw ExitCode(1)
        }
        if !quiet { FileHandle.standardError.write(Data(Self.summary(report, grace: rules.grace).utf8)) }
        if !report.problems.isEmpty { throw ExitCode(1) }
    }

    /// The report's figures, then its two lists as they are read back from its spool.
    static func printJSON(_ report: PruneReport) throws {
        let output = StreamedOutput()
        defer { output.flush() }
        let object = output.jsonObject()
        object.fields(report)
        try object.array("removed") { try report.forEachRemoved { object.append($0) } }
        try object.array("urlsNoLongerCached") { try report.forEachURLNoLongerCached { object.append($0) } }
        object.finish()
    }

    static func printRemovals(_ report: PruneReport) throws {
        let output = StreamedOutput()
        defer { output.flush() }
        let verb = report.dryRun ? "would remove" : "removed"
        try report.forEachRemoved { image in
            let name = image.urls.first.map { $0.safe + (image.urls.count > 1 ? " (+\(image.urls.count - 1) URLs)" : "") }
                ?? "sha256:\(image.digest.prefix(16))"
            output.write("\(verb) \(ByteCount.pad(image.reason.rawValue, 12)) \(ByteCount.pad(ByteCount.format(image.bytes), 9)) \(name)\n")
        }
    }

    static func summary(_ r: PruneReport, grace: String) -> String {
        let reasons = r.removedByReason.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        var lines = [
            "prune\(r.dryRun ? " (dry run)" : ""): \(r.dryRun ? "would remove" : "removed") \(r.removedCount) of "
                + "\(r.imagesBefore) images\(reasons.isEmpty ? "" : " (\(reasons))"), \(r.filesRemoved) files, "
                + "\(ByteCount.format(r.bytesReclaimed)) reclaimed; cache \(ByteCount.format(r.bytesBefore)) -> "
                + "\(ByteCount.format(r.bytesAfter)), " + String(format: "%.2f s", r.seconds),
        ]
        if r.onDemandVariantsRemoved > 0 {
            lines.append("      \(r.onDemandVariantsRemoved) of the files were variants made on request (/v/…), removed with their originals")
        }
        if r.keptInGrace > 0 { lines.append("      \(r.keptInGrace) images kept: used within the \(grace) grace period") }
        if r.overMaxBytes > 0 {
            lines.append("      warning: still \(ByteCount.format(r.overMaxBytes)) over --max-size (the rest is within the grace period)")
        }
        if r.urlsForgotten > 0 { lines.append("      \(r.urlsForgotten) URLs no seed references were forgotten") }
        if r.urlsNoLongerCachedCount > 0 {
            lines.append("      \(r.urlsNoLongerCachedCount) URLs a seed still names are no longer cached (the next sync fetches them)")
        }
        if r.seedFilesRewritten > 0 { lines.append("      isCached: false written back to \(r.seedFilesRewritten) seed files") }
        return lines.joined(separator: "\n") + "\n"
    }
}
