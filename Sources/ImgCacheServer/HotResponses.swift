import CacheStore
import HTTPTypes
import NIOCore
import NIOHTTP1
import Synchronization

/// Complete responses for hot files, keyed by the request path, built once: the hot path
/// then costs a dictionary lookup. Each entry holds its response heads as NIO's HTTP/1 encoder
/// takes them (all headers but `Date`, which `HTTPDate` adds); a small file's entry holds its
/// bytes too, a larger one's body is sent from the file (`HotFileHandler`).
/// Emptied with the service's other caches (after a prune).
public final class HotResponses: Sendable {
    struct Entry: Sendable {
        var route: String
        var file: CacheService.ServedFile
        /// `200 OK` with every header but Date.
        var ok: HTTPResponseHead
        /// The same for `304 Not Modified` (no Content-Length or Accept-Ranges).
        var notModified: HTTPResponseHead
        /// The bytes of a small file; nil for a file sent from disk.
        var body: ByteBuffer?
    }
    private let entries = Mutex<[String: Entry]>([:])
    private static let maxEntries = 10_000

    func removeAll() { entries.withLock { $0.removeAll() } }

    /// How many responses are ready (for tests and diagnostics).
    public var count: Int { entries.withLock { $0.count } }

    /// The entry for `path` (`/t/<digest>/<file>` or `/o/<file>`, nothing else) when its lookup
    /// (and a small file's bytes) are in memory; never touches the index or the disk.
    func response(for path: String, service: CacheService, serverName: String?) -> Entry? {
        if let entry = entries.withLock({ $0[path] }) { return entry }
        let utf8 = path.utf8
        guard utf8.count <= 200, !utf8.contains(UInt8(ascii: "?")), !utf8.contains(UInt8(ascii: "%")) else { return nil }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        let route: String, key: String
        if parts.count == 4, parts[0].isEmpty, parts[1] == "t" {
            (route, key) = ("thumbnail", "t/\(parts[2])/\(parts[3])")
        } else if parts.count == 3, parts[0].isEmpty, parts[1] == "o" {
            (route, key) = ("original", "o/\(parts[2])")
        } else {
            return nil
        }
        guard let (file, bytes) = service.hotFile(key) else { return nil }
        var headers = file.headers
        if let serverName { headers[.server] = serverName }
        let notModified = Self.head(.notModified, headers)
        headers[.acceptRanges] = "bytes"
        headers[.contentLength] = String(file.bytes)
        let entry = Entry(route: route, file: file, ok: Self.head(.ok, headers), notModified: notModified, body: bytes)
        entries.withLock { entries in
            if entries.count >= Self.maxEntries { entries.removeAll(keepingCapacity: true) }
            entries[path] = entry
        }
        return entry
    }

    /// An HTTP/1.1 head with `fields` (the index's, validated by HTTPFields, never request text).
    static func head(_ status: HTTPResponseStatus, _ fields: HTTPFields) -> HTTPResponseHead {
        HTTPResponseHead(version: .http1_1, status: status, headers: HTTPHeaders(fields.map { ($0.name.rawName, $0.value) }))
    }
}
