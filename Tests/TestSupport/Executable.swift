import Foundation

/// Runs the built `imgcache` binary, as a user would.
public enum Executable {
    /// The `imgcache` binary next to the test bundle (SwiftPM builds it for the tests).
    public static var imgcache: URL {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            Bundle.main.bundleURL,
            Bundle.main.bundleURL.deletingLastPathComponent(),
        ]
        for directory in candidates {
            let binary = directory.appendingPathComponent("imgcache")
            if FileManager.default.isExecutableFile(atPath: binary.path) { return binary }
        }
        // Fall back to the package's default build folder.
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/imgcache")
    }

    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `imgcache` with `arguments` and waits for it.
    public static func run(_ arguments: [String]) throws -> Result {
        try runTool(imgcache.path, arguments)
    }

    /// Runs any program (`/bin/mount`, say) and waits for it.
    public static func runTool(_ path: String, _ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes before waiting so a full pipe never blocks the child.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        group.wait()
        process.waitUntilExit()
        return Result(status: process.terminationStatus,
                      stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }
}

extension Executable {
    /// Runs `path` with its output to /dev/null and waits for it with waitpid; its exit status.
    public static func spawnAndWait(_ path: String, _ arguments: [String]) throws -> Int32 {
        var actions: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, environ)
        guard spawned == 0 else { throw TestServerError("cannot start \(path): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw TestServerError("waitpid \(path): \(String(cString: strerror(errno)))") }
        }
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}

/// A real file system that fills up: a small tmpfs mounted over a folder (needs root).
public enum SmallFileSystem {
    /// Mounts a tmpfs of `size` (`4m`) at `folder`; false, having printed why the test is
    /// skipped, where mounting is not allowed.
    public static func mount(_ size: String, at folder: URL, readOnly: Bool = false) throws -> Bool {
        let options = "size=\(size)" + (readOnly ? ",ro" : "")
        let mount = try Executable.runTool("/bin/mount", ["-t", "tmpfs", "-o", options, "tmpfs", folder.path])
        guard mount.status == 0 else {
            print("skipped: cannot mount a small tmpfs to fill (\(mount.stderr.trimmingCharacters(in: .whitespacesAndNewlines)))")
            return false
        }
        return true
    }

    public static func unmount(_ folder: URL) {
        _ = try? Executable.runTool("/bin/umount", ["-l", folder.path])
    }
}

/// Blocking work (a child process waited for, a semaphore, a socket read) on a thread of its
/// own. A synchronous test runs on Swift's cooperative pool (two threads on a two-core CI
/// machine): one that blocks for tens of seconds there starves the in-process servers of the
/// suites running beside it.
public enum Blocking {
    public static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let result: Result<T, any Error> = await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: Result { try body() }) }.start()
        }
        return try result.get()
    }
}
