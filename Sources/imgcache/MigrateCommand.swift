import ArgumentParser
import Foundation
import ImgCacheKit

struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Copy a local cache (its SQLite index and files) into the shared PostgreSQL index and object store.",
        discussion: """
            Reads the cache folder (never changes it) and writes to the backends the config names: \
            `index: postgres://user@host:port/db` (or IMGCACHE_INDEX) and, for the files, \
            `store: s3://bucket/prefix`. Every file is hashed before it is uploaded and every row \
            is recorded only after its files are stored; rows the shared index has already are \
            kept, so a migration that stopped can simply be run again. A file that is not what the \
            index says is left out and listed (run `imgcache verify --repair` first).

            Examples:
              imgcache migrate --cache ./cache --config shared.yml
              IMGCACHE_INDEX=postgres://imgcache@db:5432/imgcache imgcache migrate --json

            Exit status: 0 copied, 1 could not run, 2 copied with images left out.
            """)

    @OptionGroup var cacheOptions: CacheOptions

    @Flag(help: "Print the report as JSON on stdout.")
    var json = false

    func run() throws {
        let configuration = try cacheOptions.configuration()
        let progress = ProgressReporter(total: 0, label: "migrate", enabled: !json)
        let report = try progress.run { update in
            try Migrator(cacheDirectory: configuration.cacheDirectory, configuration: configuration).run(progress: update)
        }
        if json {
            printJSON(report)
        } else {
            var out = "migrated \(report.images) images (\(report.imagesNew) new to the index), \(report.urls) URLs from "
                + "\(report.from.safe) into \(report.index.safe); files: \(report.store.safe), \(report.filesUploaded) uploaded "
                + "(\(ByteCount.format(report.bytesUploaded))) in \(String(format: "%.1f", report.seconds)) s\n"
            for skipped in report.skipped { out += "  left out \(skipped.digest): \(skipped.reason.safe)\n" }
            FileHandle.standardError.write(Data(out.utf8))
        }
        if !report.skipped.isEmpty { throw ExitCode(2) }
    }
}
