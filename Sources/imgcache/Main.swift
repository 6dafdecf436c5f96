import ArgumentParser
import Foundation
import SafeText

/// imgcache's command line. Exit codes: 0 success, 1 some items failed, 2 usage or
/// configuration error.
struct IMGCache: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "imgcache",
        abstract: "Image cache and thumbnail service for content sites.",
        discussion: """
            Exit status: 0 when everything succeeded, 1 when some items failed (each is \
            reported with its name and reason), 2 for usage errors.
            """,
        version: "0.1.0",
        subcommands: [SyncCommand.self, StatusCommand.self, ExportCommand.self, ServeCommand.self, PruneCommand.self, VerifyCommand.self,
                      StatsCommand.self, MigrateCommand.self, URLCommand.self,
                      ThumbCommand.self, DocsCommand.self])
}

@main
enum Entry {
    static func main() async {
        do {
            var command = try IMGCache.parseAsRoot()
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch let exit as ExitCode {
            Foundation.exit(exit.rawValue)
        } catch {
            // Usage errors exit 2 (ArgumentParser's own default is 64); help and version exit 0.
            let code = IMGCache.exitCode(for: error)
            if code == .success {
                IMGCache.exit(withError: error)
            }
            FileHandle.standardError.write(Data((SafeText.escapingAllButNewlines(IMGCache.fullMessage(for: error)) + "\n").utf8))
            Foundation.exit(code == .validationFailure ? 2 : code.rawValue)
        }
    }
}
