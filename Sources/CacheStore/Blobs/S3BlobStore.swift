import CCurl
import Dispatch
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Synchronization

/// Where an S3-compatible bucket is and how to sign for it.
public struct S3Location: Sendable, Hashable, CustomStringConvertible {
    /// `http(s)://host:port`, path-style addressing (`<endpoint>/<bucket>/<key>`).
    public var endpoint: String
    public var bucket: String
    /// Keys are `<prefix>/objects/ab/cd/<sha256>` and `<prefix>/thumbs/…` (no prefix: at the bucket's root).
    public var prefix: String
    public var region: String
    public var accessKey: String
    public var secretKey: String

    public init(endpoint: String, bucket: String, prefix: String = "", region: String = "us-east-1",
                accessKey: String, secretKey: String) {
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.bucket = bucket
        self.prefix = prefix.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        self.region = region
        self.accessKey = accessKey
        self.secretKey = secretKey
    }

    /// `s3://bucket/prefix` with the endpoint, region and credentials given, or from the
    /// standard environment variables (`AWS_ENDPOINT_URL`, `AWS_REGION` / `AWS_DEFAULT_REGION`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).
    public static func parse(_ url: String, endpoint: String? = nil, region: String? = nil, accessKey: String? = nil,
                             secretKey: String? = nil,
                             environment: [String: String] = ProcessInfo.processInfo.environment) throws(CacheError) -> S3Location {
        guard url.hasPrefix("s3://") else { throw CacheError(.io, "store \(url): an object store is named s3://bucket/prefix") }
        let rest = url.dropFirst(5)
        let bucket = String(rest.prefix { $0 != "/" })
        guard !bucket.isEmpty, bucket.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." }) else {
            throw CacheError(.io, "store \(url): '\(bucket)' is not a bucket name")
        }
        guard let endpoint = endpoint ?? environment["AWS_ENDPOINT_URL_S3"] ?? environment["AWS_ENDPOINT_URL"] else {
            throw CacheError(.io, "store \(url): no endpoint (set store_endpoint in the config or AWS_ENDPOINT_URL)")
        }
        guard endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://") else {
            throw CacheError(.io, "store endpoint \(endpoint): must be an http:// or https:// URL")
        }
        guard let accessKey = accessKey ?? environment["AWS_ACCESS_KEY_ID"],
              let secretKey = secretKey ?? environment["AWS_SECRET_ACCESS_KEY"] else {
            throw CacheError(.io, "store \(url): no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
        }
        return S3Location(endpoint: endpoint, bucket: bucket, prefix: String(rest.dropFirst(bucket.count)),
                          region: region ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? "us-east-1",
                          accessKey: accessKey, secretKey: secretKey)
    }

    /// `s3://bucket/prefix at endpoint` (never the credentials).
    public var description: String { "s3://\(bucket)\(prefix.isEmpty ? "" : "/" + prefix) at \(endpoint)" }

    func objectKey(_ key: BlobKey) -> String { (prefix.isEmpty ? "" : prefix + "/") + key.relativePath }
}

/// Originals and thumbnails in an S3-compatible bucket, over libcurl, which signs every
/// request with AWS Signature V4 itself (`CURLOPT_AWS_SIGV4`). A PUT carries the SHA-256 of
/// its body in the signed `x-amz-content-sha256` header. Handles are pooled, so their
/// connections are reused.
public final class S3BlobStore: BlobStorage {
    public let location: S3Location
    private let handles = Mutex<[CurlHandle]>([])
    private let timeout: Int

    public init(_ location: S3Location, timeoutSeconds: Int = 30) {
        _ = Self.globalInit
        self.location = location
        timeout = timeoutSeconds
    }

    deinit {
        handles.withLock { for handle in $0 { curl_easy_cleanup(handle.raw) } }
    }

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    /// Creates the bucket unless it exists (a new deployment's first sync).
    public func createBucketIfMissing() throws(CacheError) {
        let head = try perform("HEAD", path: "/" + location.bucket)
        if head.status == 200 { return }
        let made = try perform("PUT", path: "/" + location.bucket)
        guard made.status == 200 || made.status == 409 else { throw failure("create bucket \(location.bucket)", made) }
    }

    public func put(_ data: Data, as key: BlobKey) throws(CacheError) {
        let answer = try perform("PUT", path: path(key), body: data)
        guard answer.status == 200 else { throw failure("PUT \(key)", answer) }
    }

    public func get(_ key: BlobKey) throws(CacheError) -> Data {
        let answer = try perform("GET", path: path(key))
        guard answer.status == 200 else { throw failure("GET \(key)", answer) }
        return answer.body
    }

    public func exists(_ key: BlobKey) -> Bool {
        (try? perform("HEAD", path: path(key)))?.status == 200
    }

    public func hash(_ key: BlobKey) -> (digest: String, bytes: Int)? {
        guard let data = try? get(key) else { return nil }
        return (BlobStore.digest(data), data.count)
    }

    /// Eight requests at a time (prune removes thousands of objects after its commit).
    public func delete(_ keys: [BlobKey]) -> Int {
        let keys = Array(Set(keys))
        let removed = Atomic<Int>(0)
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: min(8, max(1, keys.count))) { _ in
            while true {
                let position = next.add(1, ordering: .relaxed).oldValue
                guard position < keys.count else { return }
                // DELETE answers 204 whether or not the object was there: ask first, so the count is true.
                if exists(keys[position]), (try? perform("DELETE", path: path(keys[position])))?.status == 204 {
                    removed.add(1, ordering: .relaxed)
                }
            }
        }
        return removed.load(ordering: .relaxed)
    }

    /// Every object under the prefix (ListObjectsV2, 1,000 a page).
    public func list(_ batch: ([StoredBlob]) throws -> Void) throws(CacheError) {
        var token: String?
        let prefix = location.prefix.isEmpty ? "" : location.prefix + "/"
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix)]
            if let token { query.append(("continuation-token", token)) }
            let answer = try perform("GET", path: "/" + location.bucket, query: query)
            guard answer.status == 200 else { throw failure("list \(location)", answer) }
            let page = ListingParser.parse(answer.body)
            let blobs = page.objects.compactMap { object in
                BlobKey(relativePath: String(object.key.dropFirst(prefix.count)))
                    .map { StoredBlob(key: $0, bytes: object.size, modified: object.modified) }
            }
            do { try batch(blobs) } catch { throw CacheError.wrapping(error) }
            token = page.truncated ? page.nextToken : nil
        } while token != nil
    }

    public func localFile(_ key: BlobKey) -> String? { nil }

    /// A listing of at most one key under the prefix: the endpoint answers and takes the credentials.
    public func checkReachable() throws(CacheError) {
        let prefix = location.prefix.isEmpty ? "" : location.prefix + "/"
        let answer = try perform("GET", path: "/" + location.bucket, query: [("list-type", "2"), ("max-keys", "1"), ("prefix", prefix)])
        guard answer.status == 200 else { throw failure("read \(location)", answer) }
    }

    /// An object store has no half-written files: a PUT is whole or absent.
    public func abandonedTemporaryFiles() -> [String] { [] }
    public func sweepTemporaryFiles() -> Int { 0 }

    // MARK: - Requests

    private func path(_ key: BlobKey) -> String { "/" + location.bucket + "/" + location.objectKey(key) }

    struct Answer {
        var status: Int
        var body: Data
    }

    private func failure(_ what: String, _ answer: Answer) -> CacheError {
        let code = ListingParser.errorCode(answer.body).map { " \($0)" } ?? ""
        return CacheError(.io, "\(location): \(what): HTTP \(answer.status)\(code)")
    }

    /// One signed request, tried again (after 0.1 s, then 0.4 s) when the store answers 500,
    /// 502, 503 or 504: every request here is idempotent (a PUT writes the bytes its key names).
    func perform(_ method: String, path: String, query: [(String, String)] = [], body: Data? = nil) throws(CacheError) -> Answer {
        var attempt = 0
        while true {
            let answer = try performOnce(method, path: path, query: query, body: body)
            attempt += 1
            guard [500, 502, 503, 504].contains(answer.status), attempt < 3 else { return answer }
            usleep(attempt == 1 ? 100_000 : 400_000)
        }
    }

    /// One signed request. Query values are percent-encoded as SigV4's canonical form wants
    /// (libcurl signs the query as given).
    private func performOnce(_ method: String, path: String, query: [(String, String)], body: Data?) throws(CacheError) -> Answer {
        let handle = try takeHandle()
        var context = TransferContext()
        var headers: UnsafeMutablePointer<curl_slist>?
        defer {
            if let headers { curl_slist_free_all(headers) }
            returnHandle(handle)
        }
        let encodedQuery = query.sorted { $0.0 < $1.0 }.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        let url = location.endpoint + path + (encodedQuery.isEmpty ? "" : "?" + encodedQuery)
        imgcache_easy_setopt_string(handle, CURLOPT_URL, url)
        imgcache_easy_setopt_string(handle, CURLOPT_AWS_SIGV4, "aws:amz:\(location.region):s3")
        imgcache_easy_setopt_string(handle, CURLOPT_USERNAME, location.accessKey)
        imgcache_easy_setopt_string(handle, CURLOPT_PASSWORD, location.secretKey)
        imgcache_easy_setopt_long(handle, CURLOPT_TIMEOUT, timeout)
        imgcache_easy_setopt_long(handle, CURLOPT_CONNECTTIMEOUT, 10)
        imgcache_easy_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        imgcache_easy_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https")
        let payload = body ?? Data()
        headers = curl_slist_append(headers, "x-amz-content-sha256: \(BlobStore.digest(payload))")
        if method == "HEAD" {
            imgcache_easy_setopt_long(handle, CURLOPT_NOBODY, 1)
        } else if method != "GET" {
            imgcache_easy_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method)
        }
        let code: CURLcode = payload.withUnsafeBytes { bytes in
            if body != nil {
                headers = curl_slist_append(headers, "Content-Type: application/octet-stream")
                imgcache_easy_setopt_pointer(handle, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!))
                imgcache_easy_setopt_long(handle, CURLOPT_POSTFIELDSIZE, bytes.count)
            }
            imgcache_easy_setopt_pointer(handle, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(headers))
            return withUnsafeMutablePointer(to: &context) { pointer in
                imgcache_easy_setopt_data_callback(handle, CURLOPT_WRITEFUNCTION, s3Write)
                imgcache_easy_setopt_pointer(handle, CURLOPT_WRITEDATA, UnsafeMutableRawPointer(pointer))
                return curl_easy_perform(handle)
            }
        }
        guard code == CURLE_OK else {
            throw CacheError(.io, "\(location): \(method) \(path): \(String(cString: curl_easy_strerror(code)))")
        }
        var status = 0
        imgcache_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return Answer(status: status, body: context.body)
    }

    private func takeHandle() throws(CacheError) -> UnsafeMutableRawPointer {
        if let handle = handles.withLock({ $0.popLast() }) {
            curl_easy_reset(handle.raw)
            return handle.raw
        }
        guard let handle = curl_easy_init() else { throw CacheError(.io, "cannot create a curl handle") }
        return handle
    }

    private func returnHandle(_ handle: UnsafeMutableRawPointer) {
        let kept = handles.withLock { handles -> Bool in
            guard handles.count < 16 else { return false }
            handles.append(CurlHandle(raw: handle))
            return true
        }
        if !kept { curl_easy_cleanup(handle) }
    }

    /// RFC 3986 unreserved characters stay; everything else is %XX (what SigV4 signs).
    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// A curl easy handle in the pool: used by one request at a time, so it may cross threads.
private struct CurlHandle: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer
}

/// The body of one transfer.
private struct TransferContext {
    var body = Data()
}

private let s3Write: imgcache_curl_data_callback = { data, size, count, context in
    let bytes = size * count
    guard let data, let context else { return 0 }
    context.assumingMemoryBound(to: TransferContext.self).pointee.body.append(UnsafeRawPointer(data).assumingMemoryBound(to: UInt8.self), count: bytes)
    return bytes
}

/// Reads a ListObjectsV2 page (and an error's code) with Foundation's XML parser.
final class ListingParser: NSObject, XMLParserDelegate {
    struct Object {
        var key = ""
        var size = 0
        var modified = Date.distantPast
    }
    private(set) var objects: [Object] = []
    private(set) var truncated = false
    private(set) var nextToken: String?
    private(set) var code: String?
    private var current: Object?
    private var text = ""

    static func parse(_ data: Data) -> ListingParser {
        let delegate = ListingParser()
        let parser = XMLParser(data: data)
        parser.delegate = delegate
        parser.parse()
        return delegate
    }

    static func errorCode(_ data: Data) -> String? { data.isEmpty ? nil : parse(data).code }

    func parser(_ parser: XMLParser, didStartElement element: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        text = ""
        if element == "Contents" { current = Object() }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement element: String, namespaceURI: String?, qualifiedName: String?) {
        switch element {
        case "Key": current?.key = text
        case "Size": current?.size = Int(text) ?? 0
        case "LastModified": current?.modified = ISO8601DateFormatter().date(from: text) ?? .distantPast
        case "Contents": if let current { objects.append(current) }; current = nil
        case "IsTruncated": truncated = text == "true"
        case "NextContinuationToken": nextToken = text
        case "Code": code = text
        default: break
        }
    }
}
