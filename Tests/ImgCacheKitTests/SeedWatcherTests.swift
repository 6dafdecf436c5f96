import Foundation
import ImgCacheKit
import TestSupport
import Testing

/// The seeds folder watcher: inotify and polling, on real folders.
@Suite("Seed watcher", .serialized)
struct SeedWatcherTests {
    /// Waits for `watcher` on a thread of its own: what the wait returned, or nil while it waits.
    final class Waiting: @unchecked Sendable {
        private let lock = NSLock()
        private var answer: Bool?
        init(_ watcher: SeedWatcher) {
            Thread { [self] in
                let changed = watcher.waitForChange()
                lock.withLock { answer = changed }
            }.start()
        }
        var result: Bool? { lock.withLock { answer } }

        /// The answer once there is one, within `seconds`.
        func result(within seconds: Double) -> Bool? {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if let result { return result }
                Thread.sleep(forTimeInterval: 0.02)
            }
            return result
        }
    }

    @Test("a new seed, one in a new folder, an edit and a removal each wake a wait; a hidden file does not",
          arguments: [nil, 0.1] as [Double?])
    func wakes(poll: Double?) throws {
        let directory = try TemporaryDirectory()
        let watcher = SeedWatcher(directory: directory.path, poll: poll, quietPeriod: 0.05)
        #expect(watcher.mode == (poll == nil ? .inotify : .polling))
        defer { watcher.stop() }
        let file = directory.url.appendingPathComponent("a.md")
        let edits: [() throws -> Void] = [
            { try "---\nimages: []\n---\n".write(to: file, atomically: true, encoding: .utf8) },
            {
                try FileManager.default.createDirectory(at: directory.url.appendingPathComponent("posts"), withIntermediateDirectories: true)
                try "x".write(to: directory.url.appendingPathComponent("posts/b.md"), atomically: false, encoding: .utf8)
            },
            { try "---\nimages: [] # edited\n---\n".write(to: file, atomically: false, encoding: .utf8) },
            { try FileManager.default.removeItem(at: file) },
        ]
        for (step, edit) in edits.enumerated() {
            let waiting = Waiting(watcher)
            Thread.sleep(forTimeInterval: 0.1)
            #expect(waiting.result == nil, "step \(step): nothing changed yet")
            try edit()
            #expect(waiting.result(within: 10) == true, "step \(step)")
        }
        let waiting = Waiting(watcher)
        try "swap".write(to: directory.url.appendingPathComponent(".a.md.swp"), atomically: false, encoding: .utf8)
        #expect(waiting.result(within: 0.6) == nil, "a hidden file is no seed")
        watcher.stop()
        #expect(waiting.result(within: 10) == false, "stop() ends the wait")
    }

    @Test("a wait with a timeout ends with nil when nothing changed, and with true when something did", arguments: [nil, 0.1] as [Double?])
    func timeout(poll: Double?) throws {
        let directory = try TemporaryDirectory()
        let watcher = SeedWatcher(directory: directory.path, poll: poll, quietPeriod: 0.05)
        defer { watcher.stop() }
        let started = Date()
        #expect(watcher.waitForChange(timeout: 0.3) == nil)
        #expect(Date().timeIntervalSince(started) >= 0.25, "it waited for the timeout")
        try "---\n---\n".write(to: directory.url.appendingPathComponent("a.md"), atomically: true, encoding: .utf8)
        #expect(watcher.waitForChange(timeout: 3) == true)
    }

    @Test("a folder on a network file system is polled")
    func networkFileSystems() throws {
        // A small local folder (watching "/" walked every folder on the machine: 8 minutes with a
        // million cached files in /tmp, then polling for want of watches).
        let local = try TemporaryDirectory()
        #expect(SeedWatcher(directory: local.path, poll: nil).mode == .inotify)
        #expect(SeedWatcher(directory: FileManager.default.temporaryDirectory.path, poll: 2).pollingReason == "polling was asked for")
    }
}

/// `sync --watch` and `serve --seeds --watch` as a user runs them: the real binary, a real origin,
/// SIGTERM at the end.
@Suite("Watching seeds, end to end", .serialized)
struct WatchCommandTests {
    /// Starts `imgcache` with `arguments`; stderr is collected.
    final class Running: @unchecked Sendable {
        let process = Process()
        private let errors = Pipe()
        private let lock = NSLock()
        private var collected = Data()

        init(_ arguments: [String]) throws {
            process.executableURL = Executable.imgcache
            process.arguments = arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = errors
            errors.fileHandleForReading.readabilityHandler = { [self] handle in
                let data = handle.availableData
                lock.withLock { collected += data }
            }
            try process.run()
        }

        var stderr: String { lock.withLock { String(decoding: collected, as: UTF8.self) } }

        /// SIGTERM, then the exit status.
        func terminate() -> Int32 {
            process.terminate()
            process.waitUntilExit()
            errors.fileHandleForReading.readabilityHandler = nil
            return process.terminationStatus
        }
    }

    /// Polls `condition` every 20 ms for `seconds`; the seconds it took, or nil.
    static func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Double? {
        let started = Date()
        while Date().timeIntervalSince(started) < seconds {
            if condition() { return Date().timeIntervalSince(started) }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return nil
    }

    static func text(_ url: URL) -> String { (try? String(contentsOf: url, encoding: .utf8)) ?? "" }

    @Test("sync --watch writes isCached back after a new seed and after an edit, and exits 0 on SIGTERM",
          arguments: [[], ["--poll", "0.2"]])
    func syncWatch(extra: [String]) throws {
        let origin = try ImageOrigin()
        let directory = try TemporaryDirectory()
        let seeds = directory.url.appendingPathComponent("seeds"), cache = directory.url.appendingPathComponent("cache")
        try SeedFiles.write(seeds, name: "first.md", urls: [(origin.url("/a.jpg"), nil)])
        let running = try Running(["sync", seeds.path, "--cache", cache.path, "--watch", "--write-back", "--allow-private", "--quiet"] + extra)
        let first = seeds.appendingPathComponent("first.md")
        #expect(Self.waitFor(30, { Self.text(first).contains("isCached: true") }) != nil, "\(running.stderr)")

        let later = seeds.appendingPathComponent("later.md")
        try SeedFiles.write(seeds, name: "later.md", urls: [(origin.url("/b.png"), nil)])
        // How soon is bench/seed_bench.py's to measure (p99 0.77 s); here only that it happens.
        let latency = Self.waitFor(20, { Self.text(later).contains("isCached: true") })
        #expect(latency != nil, "the new seed was not written back; \(running.stderr)")

        try SeedFiles.write(seeds, name: "first.md", urls: [(origin.url("/a.jpg"), nil), (origin.url("/still.gif"), nil)])
        let edited = Self.waitFor(20, { !Self.text(first).contains("isCached: false") })
        #expect(edited != nil, "the edit was not written back; \(running.stderr)")

        #expect(running.terminate() == 0, "\(running.stderr)")
        #expect(running.stderr.contains("stopped watching"))
    }

    @Test("sync --watch --sync-every also syncs on schedule with nothing changed (expired images are revalidated)")
    func syncWatchEvery() throws {
        let origin = try ImageOrigin()
        origin.set(maxAge: 0)
        let directory = try TemporaryDirectory()
        let seeds = directory.url.appendingPathComponent("seeds"), cache = directory.url.appendingPathComponent("cache")
        try SeedFiles.write(seeds, name: "a.md", urls: [(origin.url("/a.jpg"), nil)])
        let config = directory.url.appendingPathComponent("imgcache.yml")
        try "allowPrivate: true\nminTTL: 0s\n".write(to: config, atomically: true, encoding: .utf8)
        let running = try Running(["sync", seeds.path, "--cache", cache.path, "--config", config.path, "--watch", "--sync-every", "1s"])
        let requests = { origin.origin.requests.filter { $0.path == "/a.jpg" }.count }
        #expect(Self.waitFor(20, { requests() >= 3 }) != nil, "fetched, then revalidated on schedule: \(requests()); \(running.stderr)")
        #expect(running.terminate() == 0, "\(running.stderr)")
    }

    @Test("serve --seeds DIR --watch syncs a new seed into the manifest and exits 0 on SIGTERM")
    func serveWatch() throws {
        let origin = try ImageOrigin()
        let directory = try TemporaryDirectory()
        let seeds = directory.url.appendingPathComponent("seeds"), cache = directory.url.appendingPathComponent("cache")
        try FileManager.default.createDirectory(at: seeds, withIntermediateDirectories: true)
        let config = directory.url.appendingPathComponent("imgcache.yml")
        try "allowPrivate: true\n".write(to: config, atomically: true, encoding: .utf8)
        let port = TestServers.freePort()
        let running = try Running(["serve", "--port", "\(port)", "--cache", cache.path, "--config", config.path,
                                   "--seeds", seeds.path, "--watch", "--log-level", "warning"])
        let manifest = URL(string: "http://127.0.0.1:\(port)/v1/manifest")!
        let listed = { (url: String) -> Bool in
            guard let data = try? Data(contentsOf: manifest),
                  let object = try? JSONDecoder().decode(ManifestShape.self, from: data) else { return false }
            return object.images[url]?.isCached == true
        }
        #expect(Self.waitFor(20, { (try? Data(contentsOf: manifest)) != nil }) != nil, "the server answers: \(running.stderr)")
        try SeedFiles.write(seeds, name: "new.md", urls: [(origin.url("/a.jpg"), nil)])
        let latency = Self.waitFor(20, { listed(origin.url("/a.jpg")) })
        #expect(latency != nil, "the new seed's image never reached the manifest; \(running.stderr)")
        #expect(running.terminate() == 0, "\(running.stderr)")
    }

    struct ManifestShape: Decodable {
        struct Image: Decodable { var isCached: Bool }
        var images: [String: Image]
    }
}
