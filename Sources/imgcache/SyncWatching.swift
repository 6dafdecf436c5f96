import ArgumentParser
import Dispatch
import Foundation
import ImgCacheKit
import Synchronization

/// `imgcache sync --watch`: a sync now, then one after each change to the seeds folder (and
/// every `--sync-every`, default an hour), until
/// SIGTERM or SIGINT (then what is in flight finishes and the exit status is 0).
extension SyncCommand {
    func watchSeeds(_ configuration: Configuration) throws {
        // Also every interval (default an hour): images whose freshness ran out are revalidated.
        let every = syncEvery.flatMap(DurationText.parse) ?? 3600
        let watcher = SeedWatcher(directory: seedsDirectory, poll: watching.poll)
        FileHandle.standardError.write(Data("sync: watching \(seedsDirectory.safe) (\(watcher.how)); SIGTERM or Ctrl-C stops\n".utf8))
        let running = Mutex<(syncer: Syncer?, stopping: Bool)>((nil, false))
        let signals = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                let syncer = running.withLock { state -> Syncer? in
                    state.stopping = true
                    return state.syncer
                }
                syncer?.stop(reason: "asked to stop (signal \(number))")
                watcher.stop()
            }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        repeat {
            do {
                _ = try syncOnce(configuration) { syncer in
                    running.withLock { $0.syncer = syncer }
                    if running.withLock({ $0.stopping }) { syncer.stop(reason: "asked to stop") }
                }
            } catch let exit as ExitCode where exit.rawValue == 1 {
                // Said already; a cache that cannot be opened now may open at the next change.
            }
            running.withLock { $0.syncer = nil }
        } while !running.withLock({ $0.stopping }) && watcher.waitForChange(timeout: every) != false
        FileHandle.standardError.write(Data("sync: stopped watching\n".utf8))
    }
}

/// `--watch` and `--poll`, the same for `sync` and `serve`.
struct WatchOptions: ParsableArguments {
    @Flag(help: ArgumentHelp("Sync the seeds folder again moments after each change to it (inotify; polling on NFS/SMB/FUSE "
                             + "or with --poll), and every --sync-every (default 1h)."))
    var watch = false

    @Option(help: ArgumentHelp("With --watch: look every this many seconds instead of using inotify.", valueName: "seconds"))
    var poll: Double?

    func validate() throws {
        if let poll, !(poll > 0) || !watch { throw ValidationError("--poll is a number of seconds above 0, with --watch") }
    }
}
