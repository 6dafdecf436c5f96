@_spi(Testing) import CacheStore
import Foundation
import Hummingbird
import HummingbirdTesting
import ImgCacheKit
@testable import ImgCacheServer
import TestSupport
import Testing

/// `/v1/manifest` over a real socket: a chunked stream of the index's pages, which a client
/// may drop half-way without harm to the server.
@Suite("Streamed manifest", .serialized)
struct ManifestStreamTests {
    @Test("a manifest of 3,000 images is sent chunked (no Content-Length); 10 clients that hang up mid-way leave the server healthy, holding none of their connections")
    func interruptedStreams() async throws {
        let served = try ServedCache()
        try SyntheticIndex(count: 3_000).fill(served.service.index)
        let app = try HotPathTests.application(served)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            // A busy machine (the other suites run beside this one) may take a while between pages.
            let whole = try await HotPathTests.responses(port: port, [HotPathTests.get("/v1/manifest", "\r\n")], timeout: 120)[0]
            let split = try #require(whole.range(of: Data("\r\n\r\n".utf8)))
            let head = String(decoding: whole[..<split.lowerBound], as: UTF8.self).lowercased()
            #expect(head.contains("transfer-encoding: chunked") && !head.contains("content-length"))
            #expect(whole.count > 1_000_000, "big enough to span many chunks and socket buffers")
            for _ in 0..<10 {
                try await SocketHelper.offPool {
                    let fd = try SocketHelper.connect(port: port, timeout: 120, receiveBuffer: 4096)
                    SocketHelper.send(fd, HotPathTests.get("/v1/manifest", "\r\n"))
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    #expect(recv(fd, &buffer, buffer.count, 0) > 0)  // the head and the first bytes, then gone
                    close(fd)
                }
            }
            // Still serving: a whole manifest that parses, and health.
            let again = try await HotPathTests.responses(port: port, [HotPathTests.get("/v1/manifest", "Connection: close\r\n\r\n")],
                                                        timeout: 120)[0]
            let body = try Self.dechunk(again[(try #require(again.range(of: Data("\r\n\r\n".utf8)))).upperBound...])
            let manifest = try JSONDecoder().decode(Manifest.self, from: body)
            #expect(manifest.images.count == 3_000 + 3)
            let health = try await HotPathTests.sequence(port: port, [HotPathTests.get("/healthz", "Connection: close\r\n\r\n")])[0]
            #expect(health.hasPrefix("HTTP/1.1 200"))
            // The dropped streams' connections are closed on the server's side too (a socket
            // the server kept would sit in CLOSE_WAIT on its port).
            var open = Self.connections(port: port)
            for _ in 0..<50 where !open.isEmpty {
                try await Task.sleep(for: .milliseconds(100))
                open = Self.connections(port: port)
            }
            #expect(open.isEmpty, "connections still open on the server's port, by TCP state: \(open)")
        }
    }

    /// The TCP states of this process's connections on local `port`, other than listening and
    /// TIME_WAIT (which holds no descriptor): /proc/net/tcp and tcp6.
    static func connections(port: Int) -> [String] {
        let hexPort = String(format: ":%04X", port)
        return ["/proc/net/tcp", "/proc/net/tcp6"].flatMap { path -> [String] in
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").dropFirst().compactMap { line -> String? in
                let fields = line.split(separator: " ")
                guard fields.count > 3, fields[1].hasSuffix(hexPort), fields[3] != "0A", fields[3] != "06" else { return nil }
                return String(fields[3])
            }
        }
    }

    /// The body of a chunked response.
    static func dechunk(_ data: Data) throws -> Data {
        var body = Data(), rest = data[...]
        while let line = rest.range(of: Data("\r\n".utf8)) {
            let size = Int(String(decoding: rest[..<line.lowerBound], as: UTF8.self), radix: 16) ?? 0
            if size == 0 { return body }
            body.append(rest[line.upperBound..<(line.upperBound + size)])
            rest = rest[(line.upperBound + size + 2)...]
        }
        throw OriginError("the chunked body has no last chunk")
    }
}
