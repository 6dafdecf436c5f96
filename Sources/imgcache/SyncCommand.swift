import ArgumentParser
import CacheStore
import Foundation
import ImgCacheKit

struct SyncCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Download every image the seed documents reference, store it by content and make its thumbnails.",
        discussion: """
            Reads every file under SEEDS_DIR that starts with front matter (YAML between ---, \
            TOML between +++, or a JSON object), whatever its extension, and collects the image \
            URLs of `images[]` and `related[].images[]` (one URL in several places is one image; \
            with bodyImages: true, the images of the body too). Each is downloaded with libcurl (16 at \
            once, 6 per host, HTTP/2 where offered), checked to be a format imgcache reads \
            (\(ImageFormat.allCases.map(\.description).joined(separator: ", "))) by its bytes, \
            stored once per SHA-256 in the cache, decoded once, and turned into every variant \
            (default thumb 320x320 inside, card 640x360 cover, large 1280x1280 inside).

            A second sync reads only the seed files that are new or changed (size, time, then \
            SHA-256); the references of the others come from the index, and an image that is \
            cached, fresh and complete costs no work at all. --full reads every file and looks \
            at every image's files again. With --watch it keeps running and syncs again moments \
            after each change to the folder; SIGTERM or Ctrl-C lets the images in flight finish, \
            then exits 0.

            A second sync asks nothing of origins whose copy is still fresh (Cache-Control \
            max-age, at least minTTL, default 24h) and revalidates the rest with \
            If-None-Match / If-Modified-Since: a 304 costs no body. Connection errors, 429 and 5xx \
            are retried (3 tries, Retry-After honoured). A URL that fails keeps its cached copy.

            Addresses in loopback, private, link-local, CGNAT and unique-local ranges are refused \
            at connect time (redirects included) unless --allow-private or the config's \
            allowPrivate allows them.

            Settings come from imgcache.yml (--config, or ./imgcache.yml if present); environment \
            variables override it and flags override both (docs/configuration.md). One sync runs per cache (or shared index) at a time: another one exits \
            75 naming the running sync's host, pid and start, or with --wait starts when it ends. \
            Exit status: 0 when every image is cached, 1 when some failed or a seed file could not \
            be read, 2 for usage or configuration errors, 75 when another sync holds the lease.

            Examples:
              imgcache sync seeds/
              imgcache sync seeds/ --cache /var/cache/imgcache --write-back
              imgcache sync seeds/ --refresh --json > report.json
              imgcache sync seeds/ --full        # read every seed, check every file
              imgcache sync seeds/ --watch --write-back   # sync each seed moments after it is written
              imgcache sync seeds/ --wait        # from cron: queue behind a sync still running
            """)

    @Argument(help: ArgumentHelp("Folder of seed documents (searched recursively).", valueName: "seeds-dir"))
    var seedsDirectory: String

    @OptionGroup var cacheOptions: CacheOptions

    @Option(help: ArgumentHelp("Transfers in flight at once (default 16).", valueName: "n"))
    var concurrency: Int?

    @Flag(help: "Write each image entry's isCached back into the seed files (only that value changes).")
    var writeBack = false

    @Flag(help: "Revalidate every image, fresh or not.")
    var refresh = false

    @Flag(help: "Read every seed file and check every image's files, not only what changed since the last sync.")
    var full = false

    @OptionGroup var watching: WatchOptions

    @Option(help: ArgumentHelp("With --watch: also sync every interval, changed or not (default 1h), so images whose "
                               + "freshness ran out are revalidated.", valueName: "interval"))
    var syncEvery: String?

    @Flag(help: "Allow loopback and private addresses (for a local origin).")
    var allowPrivate = false

    @Flag(help: "When another sync holds this cache's lease, wait for it to end instead of exiting 75.")
    var wait = false

    @Flag(help: "Print a JSON report on stdout.")
    var json = false

    @Flag(name: .shortAndLong, help: "No progress or summary on stderr (failures are still reported).")
    var quiet = false

    func validate() throws {
        if let concurrency, concurrency < 1 { throw ValidationError("--concurrency must be at least 1") }
        if let syncEvery {
            guard watching.watch, let seconds = DurationText.parse(syncEvery), seconds > 0 else {
                throw ValidationError("--sync-every is a duration like 1h, with --watch")
            }
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: seedsDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("\(seedsDirectory) is not a folder")
        }
    }

    func run() throws {
        let configuration = try cacheOptions.configuration(flags: ["concurrency": concurrency.map(String.init),
                                                                   "allowPrivate": allowPrivate ? "true" : nil])

        if watching.watch { return try watchSeeds(configuration) }
        let report = try syncOnce(configuration)
        if !report.succeeded { throw ExitCode(1) }
    }

    /// One sync with its progress, problems and summary said; throws the exit status when it cannot run.
    func syncOnce(_ configuration: Configuration, started: ((Syncer) -> Void)? = nil) throws -> SyncReport {
        let syncer: Syncer
        do {
            syncer = try Syncer(seedsDirectory: seedsDirectory, configuration: configuration)
        } catch {
            FileHandle.standardError.write(Data("error: cannot open the cache: \(safeLine(error))\n".utf8))
            throw ExitCode(1)
        }
        syncer.refresh = refresh
        syncer.full = full
        syncer.writeBack = writeBack
        syncer.waitForLease = wait || watching.watch
        syncer.onLeaseWait = { holder in
            FileHandle.standardError.write(Data("sync: waiting for the sync on \(holder.map { "\($0)" } ?? "this index") to end\n".utf8))
        }
        started?(syncer)
        let progress = ProgressReporter(total: 0, label: "sync", enabled: !quiet)
        let report: SyncReport
        do {
            report = try syncer.run(progress: { snapshot in
                progress.setTotal(snapshot.total)
                progress.update(finished: snapshot.finished, detail: ByteCount.format(snapshot.bytesDownloaded))
            }, onFailure: { result in
                progress.printLine("error: \(result.url.safe): \((result.error ?? "failed").safe)")
            })
        } catch {
            progress.finish()
            FileHandle.standardError.write(Data("error: \(safeLine(error))\n".utf8))
            throw ExitCode(error.code == .leaseHeld ? Self.leaseHeldStatus : 1)
        }
        progress.finish()
        if let stopped = report.stopped {
            FileHandle.standardError.write(Data("error: sync stopped: \(safeLine(stopped))\n".utf8))
        }
        for problem in report.seedProblems + report.indexProblems {
            FileHandle.standardError.write(Data("error: \(safeLine(problem))\n".utf8))
        }
        if json {
            let output = StreamedOutput()
            defer { output.flush() }
            let object = output.jsonObject()
            object.fields(report)
            do {
                try object.array("results") { try report.forEachResult { object.append($0) } }
            } catch {
                output.flush()
                FileHandle.standardError.write(Data("error: \(safeLine(error))\n".utf8))
                throw ExitCode(1)
            }
            object.finish()
        }
        if !quiet { FileHandle.standardError.write(Data(Self.summary(report).utf8)) }
        return report
    }

    /// EX_TEMPFAIL: another sync holds the lease; try again later (or pass --wait).
    static let leaseHeldStatus: Int32 = 75

    static func summary(_ r: SyncReport) -> String {
        var lines = [
            "sync: \(r.seedsRead) seed files (\(r.seedsChanged) read, \(r.seedsRemoved) gone), \(r.images) images: "
                + "\(r.fetched) fetched, \(r.notModified) not modified, "
                + "\(r.fresh) fresh (no request), \(r.failed) failed",
            "      \(r.cached)/\(r.images) cached, \(r.thumbnailsMade) thumbnails made, \(ByteCount.format(r.bytesDownloaded)) downloaded, "
                + "\(ByteCount.format(r.bytesStored)) stored, \(r.duplicates) duplicates, \(r.dimensionMismatches) dimension mismatches, "
                + String(format: "%.2f s", r.seconds),
        ]
        if !r.failuresByKind.isEmpty {
            lines.append("      failed by reason: " + r.failuresByKind.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        if r.dimensionMismatches > 0 {
            try? r.forEachResult { result in
                guard let mismatch = result.dimensionMismatch else { return }
                lines.append("      dimension mismatch: \(result.url.safe): \(mismatch)")
            }
        }
        if !r.seedProblems.isEmpty { lines.append("      \(r.seedProblems.count) seed problems (above)") }
        if !r.indexProblems.isEmpty {
            lines.append("      \(r.indexProblems.count) updates could not be recorded in the index (above): the next sync tries again")
        }
        if r.seedFilesRewritten > 0 { lines.append("      isCached written back to \(r.seedFilesRewritten) seed files") }
        return lines.joined(separator: "\n") + "\n"
    }
}

enum ByteCount {
    /// "512 B", "20.5 KB", "1.2 GB" (decimal units, one decimal; no String(format:), which is
    /// slow enough to show when prune prints 50,000 lines).
    static func format(_ bytes: Int) -> String {
        let units = ["B", "KB", "MB", "GB", "TB", "PB"]
        var unit = 0, scale = 1
        while bytes / scale >= 1000 && unit < units.count - 1 { scale *= 1000; unit += 1 }
        if unit == 0 { return "\(bytes) B" }
        let tenths = (bytes * 10 + scale / 2) / scale
        return "\(tenths / 10).\(tenths % 10) \(units[unit])"
    }

    /// `text` padded with spaces to `width` characters.
    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
