import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real HTTP/1.1 origin on 127.0.0.1 for the downloader's tests, on raw sockets so that a
/// route can misbehave the way real servers do: drip a byte a second, lie about
/// Content-Length, send an endless chunked body, hang up. One thread per connection,
/// `Connection: close` after each response.
public final class TestOrigin: @unchecked Sendable {
    public struct Request: Sendable {
        public var method: String
        public var path: String
        /// Lower-cased names.
        public var headers: [String: String]
    }

    public enum Reply: Sendable {
        case respond(status: Int, headers: [String: String], body: Data)
        /// Sends the headers, then the body one chunk of `bytesPerStep` every `interval` seconds.
        case drip(headers: [String: String], body: Data, bytesPerStep: Int, interval: TimeInterval)
        /// Declares `declaredLength` bytes, sends `body`, closes.
        case lie(declaredLength: Int, body: Data)
        /// A chunked body that never ends (until the client hangs up).
        case endless
        /// Closes the connection without a response.
        case hangUp
    }

    public typealias Handler = @Sendable (Request, _ hit: Int) -> Reply

    public let port: Int
    private let listener: Int32
    private let handler: Handler
    private let lock = NSLock()
    private var log: [Request] = []
    private var hits: [String: Int] = [:]
    private var bodyBytes = 0
    private var stopped = false

    public init(handler: @escaping Handler) throws {
        self.handler = handler
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw OriginError("socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 128) == 0 else {
            close(fd)
            throw OriginError("bind/listen: \(String(cString: strerror(errno)))")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    deinit { stop() }

    public func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    public var requests: [Request] { lock.withLock { log } }
    public func hitCount(_ path: String) -> Int { lock.withLock { hits[path] ?? 0 } }
    public var totalRequests: Int { lock.withLock { log.count } }
    /// Body bytes sent with `.respond` replies (not headers).
    public var bodyBytesSent: Int { lock.withLock { bodyBytes } }

    public func resetLog() {
        lock.withLock {
            log = []
            bodyBytes = 0
        }
    }

    public func stop() {
        let wasStopped = lock.withLock { () -> Bool in
            defer { stopped = true }
            return stopped
        }
        if !wasStopped {
            shutdown(listener, Int32(SHUT_RDWR))
            close(listener)
        }
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            var noSigPipe: Int32 = 1
            setsockopt(client, SOL_SOCKET, SO_KEEPALIVE, &noSigPipe, socklen_t(MemoryLayout<Int32>.size))
            Thread.detachNewThread { [self] in serve(client) }
        }
    }

    private func serve(_ client: Int32) {
        defer { close(client) }
        guard let request = readRequest(client) else { return }
        let hit = lock.withLock { () -> Int in
            log.append(request)
            hits[request.path, default: 0] += 1
            return hits[request.path]!
        }
        switch handler(request, hit) {
        case .respond(let status, let headers, let body):
            var all = headers
            all["Content-Length"] = String(body.count)
            send(client, head(status, all))
            if request.method != "HEAD" && status != 304 {
                send(client, body)
                lock.withLock { bodyBytes += body.count }
            }
        case .drip(let headers, let body, let step, let interval):
            var all = headers
            all["Content-Length"] = String(body.count)
            guard send(client, head(200, all)) else { return }
            var offset = 0
            while offset < body.count {
                let end = min(body.count, offset + step)
                guard send(client, body[offset..<end]) else { return }
                offset = end
                Thread.sleep(forTimeInterval: interval)
            }
        case .lie(let declared, let body):
            send(client, head(200, ["Content-Length": String(declared), "Content-Type": "image/jpeg"]))
            send(client, body)
        case .endless:
            guard send(client, head(200, ["Transfer-Encoding": "chunked", "Content-Type": "image/jpeg"])) else { return }
            let chunk = Data(repeating: 0xAB, count: 64 * 1024)
            let framed = Data(String(chunk.count, radix: 16).utf8) + Data("\r\n".utf8) + chunk + Data("\r\n".utf8)
            while send(client, framed) {}
        case .hangUp:
            return
        }
    }

    private func head(_ status: Int, _ headers: [String: String]) -> Data {
        var text = "HTTP/1.1 \(status) \(Self.reason(status))\r\nConnection: close\r\n"
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { text += "\(name): \(value)\r\n" }
        return Data((text + "\r\n").utf8)
    }

    @discardableResult
    private func send(_ client: Int32, _ data: Data) -> Bool {
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.send(client, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
    }

    private func readRequest(_ client: Int32) -> Request? {
        var buffer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while buffer.count < 64 * 1024 {
            let n = recv(client, &chunk, chunk.count, 0)
            if n <= 0 { return nil }
            buffer += chunk[0..<n]
            if let end = buffer.firstRange(of: [13, 10, 13, 10]) {
                let text = String(decoding: buffer[..<end.lowerBound], as: UTF8.self)
                var lines = text.components(separatedBy: "\r\n")
                let parts = lines.removeFirst().split(separator: " ")
                guard parts.count >= 2 else { return nil }
                var headers: [String: String] = [:]
                for line in lines {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                return Request(method: String(parts[0]), path: String(parts[1]), headers: headers)
            }
        }
        return nil
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 302: return "Found"
        case 304: return "Not Modified"
        case 404: return "Not Found"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        default: return "Status"
        }
    }
}

public struct OriginError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
