@_spi(Testing) import CacheStore
import Foundation
import Hummingbird
import HummingbirdTesting
import ImgCacheKit
@testable import ImgCacheServer
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// How `imgcache serve` speaks: HTTP/1.0 connections, files over 64 KB from disk on the event
/// loop (sendfile), cleartext HTTP/2 on the same port, HTTPS with HTTP/2 by ALPN.
@Suite("imgcache serve: protocols and large files", .serialized)
struct ProtocolTests {
    /// The original of /a.jpg (86 KB): larger than the memory tier, so the hot path sends it from disk.
    static func originalURL(_ served: ServedCache) throws -> (path: String, file: URL, bytes: Data) {
        let digest = try #require(try served.service.index.source(served.origin.url("/a.jpg"))?.digest)
        let file = served.cache.appendingPathComponent(BlobKey.original(digest).relativePath)
        let bytes = try Data(contentsOf: file)
        #expect(bytes.count > CacheService.smallFileLimit)
        return ("/o/\(digest).jpg", file, bytes)
    }

    @Test("an original over 64 KB is answered on the event loop from the file: the same head and bytes as the router's, HEAD, 304")
    func largeFileHotPath() async throws {
        let served = try ServedCache()
        let app = try HotPathTests.application(served)
        let original = try Self.originalURL(served)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let answers = try await HotPathTests.sequence(port: port, [
                HotPathTests.get(original.path, "\r\n"), HotPathTests.get(original.path, "\r\n"),
                "HEAD \(original.path) HTTP/1.1\r\nHost: test\r\n\r\n",
                HotPathTests.get(original.path, "If-None-Match: \"\(original.path.dropFirst(3).prefix(64))\"\r\n\r\n"),
            ])
            #expect(served.service.hotResponses.count == 1)  // the last three on the event loop
            let (cold, hot) = (HotPathTests.parse(answers[0][...]), HotPathTests.parse(answers[1][...]))
            #expect(answers[1].hasPrefix("HTTP/1.1 200"))
            #expect(cold.head == hot.head)
            #expect(Data(hot.body.utf8) == Data(cold.body.utf8))
            #expect(hot.head.contains("content-length: \(original.bytes.count)"))
            #expect(answers[2].hasPrefix("HTTP/1.1 200") && HotPathTests.parse(answers[2][...]).head == hot.head)
            #expect(answers[3].hasPrefix("HTTP/1.1 304"))
        }
    }

    @Test("the bytes of the hot path's file answer are the file's, byte for byte")
    func largeFileBytes() async throws {
        let served = try ServedCache()
        let app = try HotPathTests.application(served)
        let original = try Self.originalURL(served)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            var bodies = try await Self.bodies(port: port, path: original.path, count: 3)
            // Remembered (the access ledger's tick may make the server forget once, on a loaded machine; ask again).
            for _ in 0..<5 where served.service.hotResponses.count == 0 {
                bodies = try await Self.bodies(port: port, path: original.path, count: 3)
            }
            #expect(served.service.hotResponses.count == 1)
            #expect(bodies.allSatisfy { $0 == original.bytes })
        }
    }

    @Test("a hot file whose size on disk is no longer the index's is not sent: 404, never other bytes")
    func changedFileNotSent() async throws {
        let served = try ServedCache()
        let app = try HotPathTests.application(served)
        let original = try Self.originalURL(served)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            // Remembered (the access ledger's tick may make the server forget once; ask again).
            for _ in 0..<5 where served.service.hotResponses.count == 0 {
                _ = try await Self.bodies(port: port, path: original.path, count: 2)
            }
            #expect(served.service.hotResponses.count == 1)
            try Data(original.bytes.prefix(1000)).write(to: original.file)  // damaged behind the server's back
            let answer = try await HotPathTests.sequence(port: port, [HotPathTests.get(original.path, "\r\n")])
            #expect(answer[0].hasPrefix("HTTP/1.1 404"))
        }
    }

    /// `count` GETs of `path` on one connection; their bodies, read by Content-Length.
    static func bodies(port: Int, path: String, count: Int) async throws -> [Data] {
        let requests = Array(repeating: "GET \(path) HTTP/1.1\r\nHost: test\r\n\r\n", count: count)
        return try await HotPathTests.responses(port: port, requests).map { response in
            Data(response[response.range(of: Data("\r\n\r\n".utf8))!.upperBound...])
        }
    }

    @Test("HTTP/1.0: without keep-alive the answer says Connection: close and the connection closes; with it, it stays open",
          arguments: [false, true])
    func http10(hot: Bool) async throws {
        let served = try ServedCache()
        let app = try HotPathTests.application(served)
        let url = try served.thumbnailURL("/a.jpg")
        try await app.test(.live) { client in
            let port = try #require(client.port)
            if hot { _ = try await HotPathTests.sequence(port: port, [HotPathTests.get(url, "\r\n"), HotPathTests.get(url, "\r\n")]) }
            // exchange reads until the server closes (or 10 s pass, and then the answer is empty).
            let closed = try await HotPathTests.exchange(port: port, "GET \(url) HTTP/1.0\r\n\r\n")
            #expect(closed.hasPrefix("HTTP/1.1 200"))
            #expect(closed.lowercased().contains("\r\nconnection: close\r\n"))
            let head = try await HotPathTests.exchange(port: port, "GET /healthz HTTP/1.0\r\n\r\n")
            #expect(head.hasPrefix("HTTP/1.1 200"))

            let kept = try await HotPathTests.sequence(port: port, [
                "GET \(url) HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            ])
            #expect(kept.count == 2 && kept.allSatisfy { $0.lowercased().contains("\r\nconnection: keep-alive\r\n") })
        }
    }

    @Test("the idle timeout counts hot answers as activity and closes a connection idle for that long")
    func idleTimeout() async throws {
        let served = try ServedCache()
        let url = try served.thumbnailURL("/a.jpg")
        try await Self.withHotFile(served, url, idleTimeout: .seconds(2)) { port in
            let (answered, closedAfter) = try await SocketHelper.offPool { () -> (Int, Double) in
                let fd = try SocketHelper.connect(port: port, timeout: 10)
                defer { close(fd) }
                var answered = 0
                var pending = Data()
                // Fourteen hot answers 0.3 s apart: 4.2 s of activity, more than twice the timeout.
                for _ in 0..<14 {
                    SocketHelper.send(fd, HotPathTests.get(url, "\r\n"))
                    guard try HotPathTests.readResponse(fd, &pending, bodiless: false) != nil else { return (answered, 0) }
                    answered += 1
                    usleep(300_000)
                }
                let idleSince = Date()
                _ = SocketHelper.drain(fd)
                return (answered, Date().timeIntervalSince(idleSince))
            }
            #expect(answered == 14, "the connection was closed while hot answers kept it busy")
            #expect(closedAfter > 1.2 && closedAfter < 8, "closed \(closedAfter) s after the last answer")
            #expect(served.service.hotResponses.count == 1)
        }
    }

    @Test("a request for a hot file whose body never arrives is closed after the idle timeout")
    func unfinishedHotRequest() async throws {
        let served = try ServedCache()
        let url = try served.thumbnailURL("/a.jpg")
        try await Self.withHotFile(served, url, idleTimeout: .seconds(1)) { port in
            let (received, seconds) = try await SocketHelper.offPool { () -> (Int, Double) in
                let fd = try SocketHelper.connect(port: port, timeout: 10)
                defer { close(fd) }
                let started = Date()
                SocketHelper.send(fd, HotPathTests.get(url, "Content-Length: 100\r\n\r\n"))  // and no body
                return (SocketHelper.drain(fd), Date().timeIntervalSince(started))
            }
            #expect(received == 0, "an answer before the request ended")
            #expect(seconds > 0.5 && seconds < 5, "closed after \(seconds) s")
        }
    }

    @Test("a large hot file to a slow but steady reader arrives whole though it takes longer than the idle timeout; a reader that stops reading is closed")
    func slowAndStalledReaders() async throws {
        let served = try ServedCache(seeds: [("/large.jpg", nil)])
        let digest = try #require(try served.service.index.source(served.origin.url("/large.jpg"))?.digest)
        let path = "/o/\(digest).jpg"
        let size = try #require(try served.service.index.object(digest)?.bytes)
        #expect(size > 8 << 20)
        try await Self.withHotFile(served, path, idleTimeout: .seconds(1)) { port in
            // A 4 KB receive buffer: what the client has not read waits in the server, whose
            // socket buffer holds less than the 8 MB.
            let steady = try await Self.read(port: port, path: path, pauseEvery: 512 * 1024, pause: 300_000)
            #expect(steady.bytes == size, "the connection was closed while the reader kept reading")
            #expect(steady.seconds > 1, "the transfer took \(steady.seconds) s: not longer than the timeout")
            let stalled = try await Self.read(port: port, path: path, pauseEvery: 0, pause: 3_000_000)
            #expect(stalled.bytes < size, "a reader that stopped for three timeouts still got the whole file")
            #expect(served.service.hotResponses.count == 1)
        }
    }

    /// `body` with the port of a live server (`idleTimeout`) over `served`, once `path` is hot
    /// (the router has answered it once).
    static func withHotFile(_ served: ServedCache, _ path: String, idleTimeout: TimeAmount,
                            _ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        let app = try HotPathTests.application(served, idleTimeout: idleTimeout)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            _ = try await HotPathTests.sequence(port: port, [HotPathTests.get(path, "\r\n")])
            try await body(port)
        }
    }

    /// GETs `path` on a connection with a 4 KB receive buffer, sleeping `pause` µs after every
    /// `pauseEvery` bytes (0: once, before reading anything); the body bytes read until the
    /// server closed or the whole answer arrived, and how long that took.
    static func read(port: Int, path: String, pauseEvery: Int, pause: useconds_t) async throws -> (bytes: Int, seconds: Double) {
        try await SocketHelper.offPool {
            let fd = try SocketHelper.connect(port: port, timeout: 10, receiveBuffer: 4096)
            defer { close(fd) }
            let started = Date()
            SocketHelper.send(fd, HotPathTests.get(path, "\r\n"))
            if pauseEvery == 0 { usleep(pause) }
            var received = Data(), sinceThePause = 0, length: Int?
            var buffer = [UInt8](repeating: 0, count: 65536)
            while length.map({ received.count < $0 }) ?? true {
                let n = recv(fd, &buffer, buffer.count, 0)
                guard n > 0 else { break }
                received.append(contentsOf: buffer[0..<n])
                if length == nil, let end = received.range(of: Data("\r\n\r\n".utf8)) {
                    let head = String(decoding: received[..<end.lowerBound], as: UTF8.self).lowercased()
                    let field = head.components(separatedBy: "\r\n").first { $0.hasPrefix("content-length:") }
                    length = end.upperBound + (field.flatMap { Int($0.dropFirst(15).trimmingCharacters(in: .whitespaces)) } ?? 0)
                }
                sinceThePause += n
                if pauseEvery > 0, sinceThePause >= pauseEvery {
                    usleep(pause)
                    sinceThePause = 0
                }
            }
            let head = received.range(of: Data("\r\n\r\n".utf8))?.upperBound ?? received.count
            return (received.count - head, Date().timeIntervalSince(started))
        }
    }

    @Test("the router's answer to a routed HEAD leaves out any body written for it; a GET's keeps its body")
    func routedHeadHasNoBody() throws {
        // NIO's encoder is not told the methods (hot requests never reach it), so the hot-file
        // handler keeps them for the requests it passes on. Here the router is played by hand.
        let served = try ServedCache()
        let handler = HotFileHandler(service: served.service, metrics: ServerMetrics(), accessLog: nil,
                                     logger: Logger(label: "test"), serverName: nil, idleTimeout: nil)
        let channel = EmbeddedChannel(handler: handler)
        defer { _ = try? channel.finish() }
        for method in [HTTPMethod.HEAD, .GET] {
            try channel.writeInbound(HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: method, uri: "/healthz")))
            try channel.writeInbound(HTTPServerRequestPart.end(nil))
        }
        var passedOn = 0
        while let part = try channel.readInbound(as: HTTPServerRequestPart.self) { if case .head = part { passedOn += 1 } }
        #expect(passedOn == 2)
        for _ in 0..<2 {
            let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "3"])
            try channel.writeOutbound(HTTPServerResponsePart.head(head))
            try channel.writeOutbound(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: "ok\n"))))
            try channel.writeOutbound(HTTPServerResponsePart.end(nil))
        }
        var shape: [String] = []
        while let part = try channel.readOutbound(as: HTTPServerResponsePart.self) {
            switch part {
            case .head: shape.append("head")
            case .body: shape.append("body")
            case .end: shape.append("end")
            }
        }
        #expect(shape == ["head", "end", "head", "body", "end"])
    }

    @Test("cleartext HTTP/2 (prior knowledge) on the HTTP/1.1 port: the same routes and bytes, over one connection")
    func h2c() async throws {
        let curl = try #require(TestServers.find("curl"), "curl is needed to speak HTTP/2")
        let served = try ServedCache()
        let app = try HotPathTests.application(served)
        let url = try served.thumbnailURL("/a.jpg")
        let original = try Self.originalURL(served)
        let directory = try TemporaryDirectory()
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let base = "http://127.0.0.1:\(port)"
            // One curl per URL: curl 7.88 (Debian 12) drops a second request on a reused prior-knowledge connection.
            for (path, name) in [(url, "t"), (original.path, "o"), ("/healthz", "h")] {
                let result = try await SocketHelper.offPool {
                    try Executable.runTool(curl, ["-s", "--http2-prior-knowledge", "-w", "%{http_version} %{response_code}",
                                                  "-o", directory.url.appendingPathComponent(name).path, base + path])
                }
                #expect(result.stdout == "2 200", "\(path)")
            }
            #expect(try Data(contentsOf: directory.url.appendingPathComponent("o")) == original.bytes)
            let thumbnail = try #require(try served.service.index.thumbnails(digest: String(url.split(separator: "/")[1]))
                .first { url.hasSuffix("/\($0.variant).\($0.fileExtension)") })
            #expect(try Data(contentsOf: directory.url.appendingPathComponent("t")).count == thumbnail.bytes)
            // And HTTP/1.1 on the same port still works.
            let http1 = try await SocketHelper.offPool { try Executable.runTool(curl, ["-s", "-w", "%{http_version}", "-o", "/dev/null", base + url]) }
            #expect(http1.stdout == "1.1")
        }
    }

    @Test("with --tls-cert and --tls-key: HTTPS, HTTP/2 by ALPN with the configured stream cap (and HTTP/1.1 for clients that ask for it)")
    func tls() async throws {
        let curl = try #require(TestServers.find("curl"), "curl is needed to speak HTTPS")
        let openssl = try #require(TestServers.find("openssl"), "openssl makes the test certificate")
        let directory = try TemporaryDirectory()
        let cert = directory.url.appendingPathComponent("cert.pem").path, key = directory.url.appendingPathComponent("key.pem").path
        let made = try Executable.runTool(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                                                    "-keyout", key, "-out", cert])
        #expect(made.status == 0, "\(made.stderr)")
        let served = try ServedCache()
        var configuration = ServerConfiguration()
        configuration.cache.cacheDirectory = served.cache.path
        configuration.cache.variants = served.variants
        configuration.logLevel = .warning
        configuration.tls = (cert, key)
        configuration.limits.maxStreamsPerConnection = 7
        let app = try buildApplication(configuration: configuration, service: served.service)
        let url = try served.thumbnailURL("/a.jpg")
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let h2 = try await SocketHelper.offPool {
                try Executable.runTool(curl, ["-s", "-k", "-w", "%{http_version} %{response_code}", "-o", "/dev/null", "https://127.0.0.1:\(port)\(url)"])
            }
            #expect(h2.stdout == "2 200")
            let h1 = try await SocketHelper.offPool {
                try Executable.runTool(curl, ["-s", "-k", "--http1.1", "-w", "%{http_version} %{response_code}", "-o", "/dev/null",
                                              "https://127.0.0.1:\(port)\(url)"])
            }
            #expect(h1.stdout == "1.1 200")
            // The server's SETTINGS carry its stream cap on TLS too (nghttp -v prints the frames it receives).
            guard let nghttp = TestServers.find("nghttp") else {
                if TestServers.required { Issue.record("nghttp is not installed (apt-get install nghttp2-client)") }
                return
            }
            let frames = try await SocketHelper.offPool { try Executable.runTool(nghttp, ["-nv", "https://127.0.0.1:\(port)/healthz"]) }
            #expect(frames.stdout.contains("SETTINGS_MAX_CONCURRENT_STREAMS(0x03):7"), "\(frames.stdout.prefix(2000))")
        }
        // A missing key file is named at start.
        configuration.tls = (cert, directory.url.appendingPathComponent("none.pem").path)
        #expect(throws: CacheError.self) { _ = try buildApplication(configuration: configuration, service: served.service) }
    }
}
