import CacheStore
import HTTPTypes
import NIOCore
import Synchronization

/// Complete responses for hot files, keyed by the request path, built once: the hot path
/// then costs a dictionary lookup. Each entry holds its status line and headers already in
/// HTTP/1.1's wire form (all but the `Date` line, which `HTTPDateLine` adds); a small file's
/// entry holds its bytes too, a larger one's body is sent from the file (`HotFileHandler`).
/// Emptied with the service's other caches (after a prune).
public final class HotResponses: Sendable {
    struct Entry: Sendable {
        var route: String
        var file: CacheService.ServedFile
        /// `HTTP/1.1 200 OK` and every header line but Date, each ending in CRLF.
        var ok: ByteBuffer
        /// The same for `304 Not Modified` (no Content-Length or Accept-Ranges).
        var notModified: ByteBuffer
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
        guard let url = CacheURL(path: path) else { return nil }
        let (route, key) = (url.route, url.lookupKey)
        guard let (file, bytes) = service.hotFile(key) else { return nil }
        var headers = file.headers
        if let serverName { headers[.server] = serverName }
        let notModified = Self.wireHead("304 Not Modified", headers)
        headers[.acceptRanges] = "bytes"
        headers[.contentLength] = String(file.bytes)
        let entry = Entry(route: route, file: file, ok: Self.wireHead("200 OK", headers), notModified: notModified, body: bytes)
        entries.withLock { entries in
            if entries.count >= Self.maxEntries { entries.removeAll(keepingCapacity: true) }
            entries[path] = entry
        }
        return entry
    }

    /// A status line and header lines as HTTP/1.1 sends them, without the blank line that ends
    /// the head. The fields are the index's (validated by HTTPFields), never request text.
    static func wireHead(_ status: String, _ fields: HTTPFields) -> ByteBuffer {
        var text = "HTTP/1.1 \(status)\r\n"
        for field in fields { text += "\(field.name.rawName): \(field.value)\r\n" }
        return ByteBuffer(string: text)
    }
}
