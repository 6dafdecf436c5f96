@_spi(Testing) import CacheStore
import Foundation
import Hummingbird
import NIOCore
import HummingbirdTesting
import ImgCacheKit
import ImgCacheServer
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The event-loop path for hot files (`HotFileHandler`), through `buildApplication` on a real port:
/// it must answer exactly as the router does.
@Suite("imgcache serve: hot files on the event loop", .serialized)
struct HotPathTests {
    /// Sends `text` on a new connection and reads until the server closes it.
    static func exchange(port: Int, _ text: String) async throws -> String {
        let data = try await SocketHelper.offPool {
            let fd = try SocketHelper.connect(port: port, timeout: 10)
            defer { close(fd) }
            SocketHelper.send(fd, text)
            var received = Data()
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n <= 0 { break }
                received.append(contentsOf: buffer[0..<n])
            }
            return received
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// The application `imgcache serve` runs, over `served`'s cache and service.
    /// `idleTimeout`, when given, instead of the server's default.
    static func application(_ served: ServedCache, idleTimeout: TimeAmount? = nil) throws -> some ApplicationProtocol {
        var configuration = ServerConfiguration()
        configuration.cache.cacheDirectory = served.cache.path
        configuration.cache.variants = served.variants
        configuration.logLevel = .warning
        if let idleTimeout { configuration.idleTimeout = idleTimeout }
        return try buildApplication(configuration: configuration, service: served.service)
    }

    /// The time the head's `Date` line (IMF-fixdate) names, in seconds since 1970; nil without one.
    static func date(of response: String) -> Int? {
        guard let line = response.components(separatedBy: "\r\n\r\n")[0].components(separatedBy: "\r\n")
            .first(where: { $0.lowercased().hasPrefix("date: ") }) else { return nil }
        // "Sun, 06 Nov 1994 08:49:37 GMT", read field by field (no DateFormatter: ICU is slow to load).
        let fields = line.dropFirst(6).split(separator: " ")
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let clock = fields.count == 6 ? fields[4].split(separator: ":").compactMap { Int32($0) } : []
        guard fields.count == 6, fields[0].count == 4, fields[0].hasSuffix(","), fields[1].count == 2, fields[5] == "GMT",
              let day = Int32(fields[1]), let month = months.firstIndex(of: String(fields[2])), let year = Int32(fields[3]),
              clock.count == 3 else { return nil }
        var parts = tm()
        (parts.tm_year, parts.tm_mon, parts.tm_mday) = (year - 1900, Int32(month), day)
        (parts.tm_hour, parts.tm_min, parts.tm_sec) = (clock[0], clock[1], clock[2])
        return Int(timegm(&parts))
    }

    static func get(_ path: String, _ extra: String = "") -> String {
        "GET \(path) HTTP/1.1\r\nHost: test\r\n\(extra)"
    }

    /// Status line and headers (lower-cased names, without Date), and the body.
    static func parse(_ response: Substring) -> (head: [String], body: Substring) {
        let split = response.range(of: "\r\n\r\n")!
        let lines = response[..<split.lowerBound].split(separator: "\r\n").map { line -> String in
            guard let colon = line.firstIndex(of: ":") else { return String(line) }
            return line[..<colon].lowercased() + line[colon...]
        }
        return (lines.filter { !$0.hasPrefix("date:") && !$0.hasPrefix("connection:") }.sorted(), response[split.upperBound...])
    }

    @Test("a hot thumbnail is answered byte for byte as the router answers it: 200, HEAD, 304, and counted")
    func sameAnswers() async throws {
        let served = try ServedCache()
        let app = try Self.application(served)
        let url = try served.thumbnailURL("/a.jpg")
        let etag = try #require(try served.service.index.thumbnails(digest: String(url.split(separator: "/")[1]))
            .first { $0.variant == "thumb" && $0.format == .jpeg }).key
        try await app.test(.live) { client in
            let port = try #require(client.port)
            // The first request goes through the router (and makes the file hot); the rest do not.
            let sent = Int(time(nil))
            let answers = try await Self.sequence(port: port, [
                Self.get(url, "\r\n"), Self.get(url, "\r\n"),
                "HEAD \(url) HTTP/1.1\r\nHost: test\r\n\r\n",
                Self.get(url, "If-None-Match: \"\(etag)\"\r\n\r\n"),
            ])
            let (cold, hot, head, notModified) = (answers[0], answers[1], answers[2], answers[3])
            #expect(cold.hasPrefix("HTTP/1.1 200"))
            #expect(Self.parse(cold[...]).head == Self.parse(hot[...]).head)
            #expect(Self.parse(cold[...]).body == Self.parse(hot[...]).body)
            #expect(Self.parse(hot[...]).head.contains("etag: \"\(etag)\""))
            #expect(head.hasPrefix("HTTP/1.1 200") && Self.parse(head[...]).body.isEmpty)
            #expect(Self.parse(head[...]).head == Self.parse(hot[...]).head)
            #expect(notModified.hasPrefix("HTTP/1.1 304") && Self.parse(notModified[...]).body.isEmpty)
            #expect(served.service.hotResponses.count == 1)  // answered on the event loop
            // Every answer carries a Date (parse leaves it out of the comparison): the hot ones the
            // clock's at the time they were made; the router's comes from Hummingbird's date cache,
            // which a timer task refreshes once a second and lags when the test suites starve it.
            #expect(Self.date(of: cold).map { $0 <= Int(time(nil)) + 1 } == true, "no Date line: \(cold.prefix(400))")
            for answer in answers.dropFirst() {
                let date = Self.date(of: answer)
                #expect(date.map { (sent - 1)...(Int(time(nil)) + 1) ~= $0 } == true, "no current Date line: \(answer.prefix(400))")
            }

            let metrics = try await Self.exchange(port: port, Self.get("/metrics", "Connection: close\r\n\r\n"))
            #expect(metrics.contains(#"imgcache_http_requests_total{route="thumbnail",status="200"} 3"#))
            #expect(metrics.contains(#"imgcache_http_requests_total{route="thumbnail",status="304"} 1"#))
        }
        // Every hit reaches the index (written at shutdown), although the hot path records access
        // times only once a second.
        let hits = try served.service.index.testing.counter(MetaKey.servedHits)
        #expect(hits == 4)
    }

    @Test("one keep-alive connection alternating router and hot-path requests gets every answer, in order")
    func keepAlive() async throws {
        let served = try ServedCache()
        let app = try Self.application(served)
        let url = try served.thumbnailURL("/a.jpg")
        try await app.test(.live) { client in
            let port = try #require(client.port)
            _ = try await Self.exchange(port: port, Self.get(url, "Connection: close\r\n\r\n"))  // now hot
            let paths = ["/v1/manifest", url, "/healthz", url, url, "/healthz"]
            let answers = try await Self.sequence(port: port, paths.map { Self.get($0, "\r\n") })
            let types = answers.map { answer in
                Self.parse(answer[...]).head.first { $0.hasPrefix("content-type:") }?.dropFirst(13)
                    .trimmingCharacters(in: .whitespaces).components(separatedBy: ";")[0] ?? ""
            }
            #expect(types == ["application/json", "image/jpeg", "text/plain", "image/jpeg", "image/jpeg", "text/plain"])
            #expect(served.service.hotResponses.count == 1)

            // Bodiless hot answers (HEAD, 304) between routed ones: each routed answer keeps its
            // body (NIO's encoder pairs responses with request methods; a hot HEAD answered
            // beside it once made the next routed answer lose its body).
            let etag = try #require(Self.parse(answers[1][...]).head.first { $0.hasPrefix("etag:") }?.dropFirst(5)
                .trimmingCharacters(in: .whitespaces))
            let head = "HEAD \(url) HTTP/1.1\r\nHost: test\r\n\r\n", health = Self.get("/healthz", "\r\n")
            let mixed = try await Self.sequence(port: port, [
                head, health, head, head, health, Self.get(url, "If-None-Match: \(etag)\r\n\r\n"), health, Self.get(url, "\r\n"),
            ])
            #expect(mixed.map { String($0.prefix(12)) } == ["HTTP/1.1 200", "HTTP/1.1 200", "HTTP/1.1 200", "HTTP/1.1 200",
                                                             "HTTP/1.1 200", "HTTP/1.1 304", "HTTP/1.1 200", "HTTP/1.1 200"])
            for index in [1, 4, 6] { #expect(Self.parse(mixed[index][...]).body == "ok\n", "\(mixed[index])") }
            #expect(Self.parse(mixed[7][...]).body == Self.parse(answers[1][...]).body)
        }
    }

    /// Sends `requests` one after another on one keep-alive connection, each after the previous
    /// answer arrived; returns the raw answers.
    static func sequence(port: Int, _ requests: [String]) async throws -> [String] {
        try await responses(port: port, requests).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Each request in turn on one connection; each whole response (head and body) as bytes,
    /// read by Content-Length (none for HEAD and 304) or to the last chunk.
    static func responses(port: Int, _ requests: [String], timeout: Int = 30) async throws -> [Data] {
        try await SocketHelper.offPool {
            let fd = try SocketHelper.connect(port: port, timeout: timeout)
            defer { close(fd) }
            var answers: [Data] = []
            var pending = Data()
            for request in requests {
                SocketHelper.send(fd, request)
                guard let answer = try readResponse(fd, &pending, bodiless: request.hasPrefix("HEAD ")) else {
                    throw OriginError("the connection ended after \(answers.count) responses")
                }
                answers.append(answer)
            }
            return answers
        }
    }

    /// The next whole response on `fd` (bytes read past it stay in `pending`); nil when the
    /// connection ends first.
    static func readResponse(_ fd: Int32, _ pending: inout Data, bodiless: Bool) throws -> Data? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if let end = pending.range(of: Data("\r\n\r\n".utf8)) {
                let head = String(decoding: pending[..<end.lowerBound], as: UTF8.self).lowercased()
                let fields = head.components(separatedBy: "\r\n")
                let chunked = !bodiless && fields.contains { $0.hasPrefix("transfer-encoding:") && $0.contains("chunked") }
                // A chunked body (the streamed manifest) ends with the zero-length chunk.
                let length = chunked ? pending[end.upperBound...].range(of: Data("\r\n0\r\n\r\n".utf8)).map { $0.upperBound - end.upperBound }
                    : bodiless || head.hasPrefix("http/1.1 304") ? 0 : fields.first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst(15).trimmingCharacters(in: .whitespaces)) } ?? 0
                if let length, pending.count - end.upperBound >= length {
                    let answer = Data(pending[..<(end.upperBound + length)])
                    pending = Data(pending[(end.upperBound + length)...])
                    return answer
                }
            }
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { return nil }
            pending.append(contentsOf: buffer[0..<n])
        }
    }

    @Test("after a prune the hot path forgets the file: 404, not the removed bytes")
    func prunedIsGone() async throws {
        let served = try ServedCache()
        let app = try Self.application(served)
        let url = try served.thumbnailURL("/a.jpg")
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let answers = try await Self.sequence(port: port, [Self.get(url, "\r\n"), Self.get(url, "\r\n")])
            #expect(answers.allSatisfy { $0.hasPrefix("HTTP/1.1 200") })
            #expect(served.service.hotResponses.count == 1)
            // Another process prunes; the server notices on its next access-log tick.
            _ = try Pruner(cacheDirectory: served.cache.path).run(policy: PrunePolicy(maxBytes: 0, grace: 0))
            var answer = ""
            for _ in 0..<30 {
                answer = try await Self.exchange(port: port, Self.get(url, "Connection: close\r\n\r\n"))
                if answer.hasPrefix("HTTP/1.1 404") { break }
                try await Task.sleep(for: .milliseconds(500))
            }
            #expect(answer.hasPrefix("HTTP/1.1 404"))
            let again = try await Self.sequence(port: port, [Self.get(url, "\r\n")])
            #expect(again.first?.hasPrefix("HTTP/1.1 404") == true)
            #expect(served.service.hotResponses.count == 0)
        }
    }
}
