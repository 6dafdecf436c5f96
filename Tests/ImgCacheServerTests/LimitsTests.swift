@_spi(Testing) import CacheStore
import Foundation
import Hummingbird
import HummingbirdTesting
import ImgCacheKit
@testable import ImgCacheServer
import NIOCore
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What one client may hold of `imgcache serve`: request heads, connections, HTTP/2 streams
/// that never open their window. Real sockets, curl and h2load (nghttp2-client) as clients.
@Suite("imgcache serve: limits per client and in total", .serialized)
struct LimitsTests {
    static func application(_ served: ServedCache, limits: ServerLimits = .init()) throws -> some ApplicationProtocol {
        var configuration = ServerConfiguration()
        configuration.cache.cacheDirectory = served.cache.path
        configuration.cache.variants = served.variants
        configuration.logLevel = .warning
        configuration.limits = limits
        return try buildApplication(configuration: configuration, service: served.service)
    }

    static func request(_ path: String, headers: [(String, String)]) -> String {
        "GET \(path) HTTP/1.1\r\nHost: test\r\n" + headers.map { "\($0.0): \($0.1)\r\n" }.joined() + "Connection: close\r\n\r\n"
    }

    @Test("a 6 KB cookie works on HTTP/1.1 (a head over one read) and on h2c; a 9 KB line gets 431 on both, 40 KB in all on HTTP/1.1")
    func requestHeads() async throws {
        let served = try ServedCache()
        let app = try Self.application(served)
        let cookie = "session=" + String(repeating: "c", count: 6000)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let ok = try await HotPathTests.exchange(port: port, Self.request("/healthz", headers: [("Cookie", cookie)]))
            #expect(ok.hasPrefix("HTTP/1.1 200"), "\(ok.prefix(80))")
            let line = try await HotPathTests.exchange(port: port, Self.request("/healthz", headers: [("Cookie", String(repeating: "c", count: 9000))]))
            #expect(line.hasPrefix("HTTP/1.1 431"), "\(line.prefix(80))")
            let many = (0..<10).map { ("X-Filler-\($0)", String(repeating: "f", count: 4000)) }
            let head = try await HotPathTests.exchange(port: port, Self.request("/healthz", headers: many))
            #expect(head.hasPrefix("HTTP/1.1 431") && head.contains("request header fields too large"), "\(head.prefix(80))")
            // The server still answers.
            #expect(try await HotPathTests.exchange(port: port, Self.request("/healthz", headers: [])).hasPrefix("HTTP/1.1 200"))

            guard let curl = TestServers.find("curl") else { return }
            let h2 = try await SocketHelper.offPool {
                try Executable.runTool(curl, ["-s", "-o", "/dev/null", "--http2-prior-knowledge", "-w", "%{http_version} %{response_code}",
                                              "-H", "Cookie: \(cookie)", "http://127.0.0.1:\(port)/healthz"])
            }
            #expect(h2.stdout == "2 200")
            let h2Line = try await SocketHelper.offPool {
                try Executable.runTool(curl, ["-s", "-o", "/dev/null", "--http2-prior-knowledge", "-w", "%{http_version} %{response_code}",
                                              "-H", "Cookie: " + String(repeating: "c", count: 9000), "http://127.0.0.1:\(port)/healthz"])
            }
            #expect(h2Line.stdout == "2 431")
        }
    }

    @Test("connections over the cap get 503 with Retry-After (HTTP/2: GOAWAY), and the server answers once they close")
    func connectionFlood() async throws {
        let served = try ServedCache()
        var limits = ServerLimits()
        limits.maxConnections = 20
        limits.maxConnectionsPerClient = 0
        let app = try Self.application(served, limits: limits)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let held = try await SocketHelper.offPool { try (0..<20).map { _ in try SocketHelper.connect(port: port, timeout: 5) } }
            try await Task.sleep(for: .milliseconds(200))
            let refused = try await HotPathTests.exchange(port: port, Self.request("/healthz", headers: []))
            #expect(refused.hasPrefix("HTTP/1.1 503") && refused.contains("Retry-After: 1"), "\(refused.prefix(120))")
            #expect(refused.contains("too many open connections"))
            // An HTTP/2 client gets the server's SETTINGS and a GOAWAY with REFUSED_STREAM.
            let h2 = try await HotPathTests.exchange(port: port, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            let frames = Array(h2.utf8)
            #expect(frames.count == 26 && frames[3] == 0x4 && frames[12] == 0x7 && frames[25] == 0x7)
            // Closed without a byte sent: each is counted out (half-closure must not keep them open).
            for fd in held { close(fd) }
            try await Task.sleep(for: .milliseconds(300))
            let after = try await HotPathTests.exchange(port: port, Self.request("/healthz", headers: []))
            #expect(after.hasPrefix("HTTP/1.1 200"))
        }
    }

    @Test("per client address: the 4th connection from one address gets 503 while another client would be served")
    func perClientCap() async throws {
        let served = try ServedCache()
        var limits = ServerLimits()
        limits.maxConnectionsPerClient = 3
        let app = try Self.application(served, limits: limits)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let held = try await SocketHelper.offPool { try (0..<3).map { _ in try SocketHelper.connect(port: port, timeout: 5) } }
            defer { for fd in held { close(fd) } }
            try await Task.sleep(for: .milliseconds(200))
            let refused = try await HotPathTests.exchange(port: port, Self.request("/healthz", headers: []))
            #expect(refused.hasPrefix("HTTP/1.1 503") && refused.contains("this client has too many open connections"))
        }
    }

    @Test("behind a proxy (--client-address-header): the cap counts one client's requests in progress by the header's last address, not the proxy's connections")
    func perClientBehindProxy() async throws {
        let served = try ServedCache()
        let original = try ProtocolTests.originalURL(served)
        var limits = ServerLimits()
        limits.maxConnectionsPerClient = 3
        limits.clientAddressHeader = "X-Forwarded-For"
        let app = try Self.application(served, limits: limits)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            // Four connections from the proxy's one address: no connection cap applies.
            let held = try await SocketHelper.offPool { try (0..<4).map { _ in try SocketHelper.connect(port: port, timeout: 5) } }
            defer { for fd in held { close(fd) } }
            let proxied = try await HotPathTests.exchange(port: port, Self.request("/healthz", headers: []))
            #expect(proxied.hasPrefix("HTTP/1.1 200"), "\(proxied.prefix(80))")
            // Client 203.0.113.7 has three responses in progress that cannot be sent (zero window).
            guard let stalled = try StalledH2Client(url: "http://127.0.0.1:\(port)\(original.path)", streams: 3,
                                                    header: "X-Forwarded-For: 198.51.100.1, 203.0.113.7") else { return }
            let same = Self.request("/healthz", headers: [("X-Forwarded-For", "203.0.113.7")])
            let refused = try await Self.exchange(port: port, same, until: "HTTP/1.1 503")
            #expect(refused.hasPrefix("HTTP/1.1 503") && refused.lowercased().contains("retry-after: 1"), "\(refused.prefix(100))")
            #expect(refused.contains("this client has too many requests in progress"))
            // Another client behind the same proxy (the last address is the one the proxy added) is served.
            let other = Self.request("/healthz", headers: [("X-Forwarded-For", "203.0.113.7, 198.51.100.2")])
            #expect(try await HotPathTests.exchange(port: port, other).hasPrefix("HTTP/1.1 200"))
            stalled.stop()
            let after = try await Self.exchange(port: port, same, until: "HTTP/1.1 200")
            #expect(after.hasPrefix("HTTP/1.1 200"), "the client's places are given back when its streams end")
        }
    }

    @Test("the client a proxy header names: the last entry, Forwarded's for=, without port or brackets")
    func clientAddressParsing() {
        #expect(ClientRequestGate.client(in: "198.51.100.1, 203.0.113.7") == "203.0.113.7")
        #expect(ClientRequestGate.client(in: "203.0.113.7:5123") == "203.0.113.7")
        #expect(ClientRequestGate.client(in: "2001:db8::1") == "2001:db8::1")
        #expect(ClientRequestGate.client(in: #"for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711""#) == "2001:db8:cafe::17")
        #expect(ClientRequestGate.client(in: " ") == nil)
    }

    @Test("streamed responses over the cap get 503 with Retry-After; a slot is free again once its client goes")
    func streamingCap() async throws {
        let served = try ServedCache()
        let original = try ProtocolTests.originalURL(served)
        var limits = ServerLimits()
        limits.maxStreamingResponses = 1
        let app = try Self.application(served, limits: limits)
        let range = "GET \(original.path) HTTP/1.1\r\nHost: t\r\nRange: bytes=0-99\r\nConnection: close\r\n\r\n"
        try await app.test(.live) { client in
            let port = try #require(client.port)
            #expect(try await HotPathTests.exchange(port: port, range).hasPrefix("HTTP/1.1 206"))
            // An HTTP/2 client with a zero stream window holds the one slot: its response cannot be sent.
            guard let stalled = try StalledH2Client(url: "http://127.0.0.1:\(port)\(original.path)", streams: 1) else { return }
            let refused = try await Self.exchange(port: port, range, until: "HTTP/1.1 503")
            #expect(refused.hasPrefix("HTTP/1.1 503") && refused.lowercased().contains("retry-after: 1"), "\(refused.prefix(100))")
            stalled.stop()
            let after = try await Self.exchange(port: port, range, until: "HTTP/1.1 206")
            #expect(after.hasPrefix("HTTP/1.1 206"))
        }
    }

    /// The real binary under `ulimit -n 1024`, h2load opening 20 connections × 100 streams of an
    /// 86 KB original with a zero stream window (-w 0: nothing can be sent), as a hostile client.
    @Test("2,000 HTTP/2 streams that never open their window: descriptors and RSS stay bounded, HTTP/1.1 answers within 1 s")
    func stalledStreams() async throws {
        guard let h2load = TestServers.find("h2load") else {
            if TestServers.required { Issue.record("h2load is not installed (apt-get install nghttp2-client)") }
            print("skipped: h2load is not installed (apt-get install nghttp2-client): the stalled-stream test")
            return
        }
        let served = try ServedCache()
        let original = try ProtocolTests.originalURL(served)
        let port = TestServers.freePort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/bin/sh")
        server.arguments = ["-c", "ulimit -n 1024 && exec \"$0\" serve --cache \"$1\" --port \"$2\" --log-level error",
                            Executable.imgcache.path, served.cache.path, String(port)]
        server.standardError = FileHandle.nullDevice
        try server.run()
        // Killed, not stopped gracefully: a graceful stop would wait for the stalled streams' timeout.
        defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
        let pid = server.processIdentifier
        for _ in 0..<100 where !Self.answers(port) { usleep(100_000) }
        #expect(Self.answers(port))
        let idle = (fds: Self.descriptors(pid), rss: Self.rssMB(pid))

        // At the lowest priority: the suites beside this one share the machine's cores.
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/nice")
        client.arguments = ["-n", "19", h2load, "-c", "20", "-m", "100", "-n", "2000", "-w", "0", "-T", "30",
                            "http://127.0.0.1:\(port)\(original.path)"]
        client.standardOutput = FileHandle.nullDevice
        client.standardError = FileHandle.nullDevice
        try client.run()
        defer { client.terminate() }
        try await Task.sleep(for: .seconds(3))
        let loaded = (fds: Self.descriptors(pid), rss: Self.rssMB(pid))
        // The best of five tries a second apart: a loaded test machine may stall any one request.
        var waited = Double.infinity
        for _ in 0..<5 where waited >= 1 {
            let started = Date()
            if Self.answers(port, within: 2) { waited = Date().timeIntervalSince(started) } else { sleep(1) }
        }
        #expect(server.isRunning)
        #expect(waited < 1, "HTTP/1.1 waited \(waited) s")
        // 20 connections and the server's own files: no descriptor per stalled stream.
        #expect(loaded.fds < idle.fds + 60, "descriptors: \(idle.fds) idle, \(loaded.fds) with 2,000 stalled streams")
        #expect(loaded.rss < 300, "RSS \(loaded.rss) MB with 2,000 stalled streams (\(idle.rss) MB idle)")
    }

    /// Sends `request` every 100 ms until the answer starts with `prefix` (5 s at most); the last answer.
    static func exchange(port: Int, _ request: String, until prefix: String) async throws -> String {
        var answer = ""
        for _ in 0..<150 where !answer.hasPrefix(prefix) {  // up to 15 s: h2load starts slowly on a loaded machine
            try await Task.sleep(for: .milliseconds(100))
            answer = try await HotPathTests.exchange(port: port, request)
        }
        return answer
    }

    static func answers(_ port: Int, within seconds: Int = 1) -> Bool {
        let result = try? Executable.runTool("/usr/bin/curl", ["-s", "-o", "/dev/null", "-m", String(seconds), "-w", "%{http_code}",
                                                               "http://127.0.0.1:\(port)/healthz"])
        return result?.stdout == "200"
    }

    static func descriptors(_ pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    static func rssMB(_ pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kB = Int(line.split(separator: " ").dropFirst().first ?? "") else { return -1 }
        return kB / 1024
    }
}

/// h2load (nghttp2-client) holding `streams` requests on one connection with a zero window, so
/// no response can be sent; nil, recorded as an issue where servers are required, without h2load.
final class StalledH2Client {
    private let process = Process()

    init?(url: String, streams: Int, header: String? = nil) throws {
        guard let h2load = TestServers.find("h2load") else {
            if TestServers.required { Issue.record("h2load is not installed (apt-get install nghttp2-client)") }
            return nil
        }
        process.executableURL = URL(fileURLWithPath: h2load)
        process.arguments = ["-c", "1", "-m", String(streams), "-n", String(streams), "-w", "0", "-T", "30"]
            + (header.map { ["-H", $0] } ?? []) + [url]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }

    /// Closes its connection now: h2load lets SIGTERM wait for its -T timeout, so SIGKILL.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { stop() }
}
