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
        let watcher = SeedWatcher(directory: seedsDirectory, poll: poll)
        let how = watcher.pollingReason.map { "polling every \(watcher.pollInterval) s: \($0)" } ?? "inotify"
        FileHandle.standardError.write(Data("sync: watching \(seedsDirectory.safe) (\(how)); SIGTERM or Ctrl-C stops\n".utf8))
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
