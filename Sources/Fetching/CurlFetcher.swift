import Foundation
import SafeText
internal import CCurl

/// Downloads over libcurl: one multi handle driven by the calling thread, HTTP/2 multiplexing
/// where the server offers it, connection reuse, bounded concurrency (in total and per host).
///
/// Safety: http and https only (redirects too), at most `maxRedirects` redirects, connect and
/// low-speed timeouts, the body counted in the write callback against `maxBodyBytes`, the peer
/// address checked against the `AddressPolicy` once connected (so redirects and DNS answers are
/// covered), proxy environment variables ignored.
public final class CurlFetcher: ImageFetching {
    public let configuration: FetchConfiguration

    public init(configuration: FetchConfiguration = FetchConfiguration()) {
        self.configuration = configuration
        _ = CurlFetcher.globalInit
    }

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    public func fetchAll(_ requests: [FetchRequest], stopping: () -> Bool, onOutcome: (Int, FetchOutcome) -> Void) {
        guard let multi = curl_multi_init() else {
            for index in requests.indices { onOutcome(index, .failed(FetchError(.other, "cannot create a curl multi handle"))) }
            return
        }
        defer { curl_multi_cleanup(multi) }
        imgcache_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, configuration.maxPerHost)
        imgcache_multi_setopt_long(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, configuration.maxConcurrent)
        imgcache_multi_setopt_long(multi, CURLMOPT_PIPELINING, Int(CURLPIPE_MULTIPLEX))

        var pending = Array(requests.indices.reversed())   // popLast gives request order
        var delayed = RetryQueue()
        var active: [UnsafeMutableRawPointer: Transfer] = [:]
        var attempts = [Int](repeating: 1, count: requests.count)

        while !pending.isEmpty || !delayed.isEmpty || !active.isEmpty {
            if stopping() {
                Self.abandon(pending + delayed.popAll() + active.values.map(\.index), onOutcome)
                for (easy, transfer) in active {
                    curl_multi_remove_handle(multi, easy)
                    transfer.cleanup()
                }
                return
            }
            pending += delayed.popDue(Date())
            while active.count < configuration.maxConcurrent, let index = pending.popLast() {
                let transfer = Transfer(index: index, request: requests[index], attempt: attempts[index],
                                        configuration: configuration)
                switch transfer.start(in: multi) {
                case .success(let easy): active[easy] = transfer
                case .failure(let error): onOutcome(index, .failed(error))
                }
            }
            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            var left: Int32 = 0
            while let message = curl_multi_info_read(multi, &left) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle,
                      let transfer = active.removeValue(forKey: easy) else { continue }
                let code = message.pointee.data.result
                curl_multi_remove_handle(multi, easy)
                let outcome = transfer.finish(code)
                transfer.cleanup()
                if case .failed(let error) = outcome, error.retryable, transfer.attempt < configuration.maxAttempts {
                    attempts[transfer.index] += 1
                    let wait = transfer.retryAfter.map { min($0, configuration.maxRetryAfter) }
                        ?? configuration.retryBaseDelay * pow(2, Double(transfer.attempt - 1))
                    delayed.push(.init(due: Date().addingTimeInterval(wait), index: transfer.index))
                } else {
                    onOutcome(transfer.index, outcome)
                }
            }
            if active.isEmpty && pending.isEmpty, let next = delayed.nextDue {
                Thread.sleep(forTimeInterval: max(0, min(next.timeIntervalSinceNow, 1)))
            } else if !active.isEmpty {
                curl_multi_poll(multi, nil, 0, 100, nil)
            }
        }
    }
}

extension CurlFetcher {
    /// Ends `indices` unfetched: the caller stopped the run.
    static func abandon(_ indices: [Int], _ onOutcome: (Int, FetchOutcome) -> Void) {
        for index in indices.sorted() { onOutcome(index, .failed(FetchError(.stopped, "not fetched: the run stopped"))) }
    }
}

/// One attempt at one URL: owns its easy handle, header list and body.
final class Transfer {
    let index: Int
    let request: FetchRequest
    let attempt: Int
    let configuration: FetchConfiguration
    var easy: UnsafeMutableRawPointer?
    var headerList: UnsafeMutablePointer<curl_slist>?
    var body = Data()
    var headers: [String: String] = [:]
    var refusal: FetchError?
    var retryAfter: TimeInterval?

    init(index: Int, request: FetchRequest, attempt: Int, configuration: FetchConfiguration) {
        self.index = index
        self.request = request
        self.attempt = attempt
        self.configuration = configuration
    }

    func start(in multi: UnsafeMutableRawPointer) -> Result<UnsafeMutableRawPointer, FetchError> {
        let target: TransferURL
        switch TransferURL.parse(request.url) {
        case .success(let parsed): target = parsed
        case .failure(let problem): return .failure(FetchError(.invalidURL, "\(SafeText.removingUserinfo(fromURL: request.url)): \(problem)"))
        }
        if let reason = HostPolicy.refusal(host: target.host, configuration: configuration) {
            return .failure(FetchError(.blockedHost, reason))
        }
        guard let easy = curl_easy_init() else { return .failure(FetchError(.other, "cannot create a curl handle")) }
        self.easy = easy
        let c = configuration
        imgcache_easy_setopt_string(easy, CURLOPT_URL, target.text)
        imgcache_easy_setopt_string(easy, CURLOPT_PROTOCOLS_STR, "http,https")
        imgcache_easy_setopt_string(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        imgcache_easy_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 1)
        imgcache_easy_setopt_long(easy, CURLOPT_MAXREDIRS, c.maxRedirects)
        imgcache_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        imgcache_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(c.connectTimeout * 1000))
        imgcache_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, Int(c.totalTimeout * 1000))
        imgcache_easy_setopt_long(easy, CURLOPT_LOW_SPEED_LIMIT, c.lowSpeedBytesPerSecond)
        imgcache_easy_setopt_long(easy, CURLOPT_LOW_SPEED_TIME, max(1, Int(c.lowSpeedTime)))
        imgcache_easy_setopt_long(easy, CURLOPT_MAXFILESIZE_LARGE, c.maxBodyBytes)
        imgcache_easy_setopt_long(easy, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_2TLS))
        imgcache_easy_setopt_string(easy, CURLOPT_USERAGENT, c.userAgent)
        // An empty proxy disables proxies, environment variables included.
        imgcache_easy_setopt_string(easy, CURLOPT_PROXY, c.proxy ?? "")
        var list: UnsafeMutablePointer<curl_slist>?
        if let etag = request.etag { list = curl_slist_append(list, "If-None-Match: \(etag)") }
        if let lastModified = request.lastModified { list = curl_slist_append(list, "If-Modified-Since: \(lastModified)") }
        if list != nil {
            headerList = list
            imgcache_easy_setopt_pointer(easy, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(list))
        }
        let context = Unmanaged.passUnretained(self).toOpaque()
        imgcache_easy_setopt_data_callback(easy, CURLOPT_WRITEFUNCTION, transferWrite)
        imgcache_easy_setopt_pointer(easy, CURLOPT_WRITEDATA, context)
        imgcache_easy_setopt_data_callback(easy, CURLOPT_HEADERFUNCTION, transferHeader)
        imgcache_easy_setopt_pointer(easy, CURLOPT_HEADERDATA, context)
        imgcache_easy_setopt_opensocket_callback(easy, transferOpenSocket)
        imgcache_easy_setopt_pointer(easy, CURLOPT_OPENSOCKETDATA, context)
        curl_multi_add_handle(multi, easy)
        return .success(easy)
    }

    func cleanup() {
        if let easy { curl_easy_cleanup(easy) }
        if let headerList { curl_slist_free_all(headerList) }
        easy = nil
        headerList = nil
    }

    /// Where the transfer ended, without userinfo (messages and records never carry credentials).
    var effectiveURL: String {
        var pointer: UnsafeMutablePointer<CChar>?
        guard let easy, imgcache_easy_getinfo_string(easy, CURLINFO_EFFECTIVE_URL, &pointer) == CURLE_OK,
              let pointer else { return SafeText.removingUserinfo(fromURL: request.url) }
        return SafeText.removingUserinfo(fromURL: String(cString: pointer))
    }

    /// " (redirected to URL)" when the transfer ended elsewhere than it was asked, else "".
    var redirectNote: String {
        let url = effectiveURL
        return url == SafeText.removingUserinfo(fromURL: request.url) ? "" : " (redirected to \(url))"
    }

    /// Classifies the finished transfer.
    func finish(_ code: CURLcode) -> FetchOutcome {
        var status = 0
        if let easy { imgcache_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status) }
        if let refusal { return .failed(with(refusal)) }
        let url = effectiveURL
        // Messages name the URL only when a redirect led elsewhere: the caller knows the one it asked for.
        let place = redirectNote
        guard code == CURLE_OK else { return .failed(with(Self.error(for: code, place: place))) }
        let response = FetchResponse(status: status, body: body, headers: headers, effectiveURL: url, attempts: attempt)
        switch status {
        case 200: return .fetched(response)
        case 304: return .notModified(response)
        case 429, 500...599:
            retryAfter = headers["retry-after"].flatMap(Self.retryAfterSeconds)
            return .failed(with(FetchError(.httpStatus, "HTTP \(status)\(place)", status: status, retryable: true)))
        default:
            return .failed(with(FetchError(.httpStatus, "HTTP \(status)\(place)", status: status)))
        }
    }

    private func with(_ error: FetchError) -> FetchError {
        var error = error
        error.attempts = attempt
        return error
    }

    static func retryAfterSeconds(_ value: String) -> TimeInterval? {
        if let seconds = TimeInterval(value.trimmingCharacters(in: .whitespaces)) { return max(0, seconds) }
        return HTTPDate.parse(value).map { max(0, $0.timeIntervalSinceNow) }
    }

    static func error(for code: CURLcode, place: String) -> FetchError {
        let text = String(cString: curl_easy_strerror(code)) + place
        switch code {
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return FetchError(.dns, text)
        case CURLE_COULDNT_CONNECT, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE,
             CURLE_HTTP2, CURLE_HTTP2_STREAM, CURLE_SSL_CONNECT_ERROR:
            return FetchError(.connection, text, retryable: true)
        case CURLE_OPERATION_TIMEDOUT:
            return FetchError(.timeout, text, retryable: true)
        case CURLE_TOO_MANY_REDIRECTS:
            return FetchError(.tooManyRedirects, text)
        case CURLE_UNSUPPORTED_PROTOCOL:
            return FetchError(.invalidURL, "a redirect to a scheme other than http or https" + place)
        case CURLE_FILESIZE_EXCEEDED:
            return FetchError(.tooLarge, "the body is larger than the limit" + place)
        default:
            return FetchError(.other, text)
        }
    }
}

/// Appends body bytes, refusing the transfer once it passes the limit.
private let transferWrite: imgcache_curl_data_callback = { data, size, count, context in
    let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
    let bytes = size * count
    if transfer.body.count + bytes > transfer.configuration.maxBodyBytes {
        transfer.refusal = FetchError(.tooLarge, "the body passed the limit of \(transfer.configuration.maxBodyBytes) bytes")
        return 0
    }
    if let data { transfer.body.append(UnsafeRawPointer(data).assumingMemoryBound(to: UInt8.self), count: bytes) }
    return bytes
}

/// Collects the headers of the last response (a new status line starts over: redirects, 100).
private let transferHeader: imgcache_curl_data_callback = { data, size, count, context in
    let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
    let bytes = size * count
    guard let data else { return bytes }
    let line = String(decoding: UnsafeRawBufferPointer(start: data, count: bytes), as: UTF8.self)
        .trimmingCharacters(in: .whitespacesAndNewlines)
    if line.hasPrefix("HTTP/") {
        transfer.headers = [:]
    } else if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        transfer.headers[name] = value
        if name == "content-length", let length = Int(value), length > transfer.configuration.maxBodyBytes {
            transfer.refusal = FetchError(.tooLarge, "Content-Length \(length) is over the limit of \(transfer.configuration.maxBodyBytes) bytes")
            return 0
        }
    }
    return bytes
}

/// Called before every new connection (the first, and each redirect to another host): the SSRF
/// check. A refused address gets no connection at all, not even a SYN. Reused connections were
/// checked when they were opened.
private let transferOpenSocket: imgcache_curl_opensocket_callback = { context, _, address in
    let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
    guard let address else { return CURL_SOCKET_BAD }
    var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
    guard imgcache_sockaddr_string(address, &buffer, socklen_t(buffer.count)) != 0 else {
        transfer.refusal = FetchError(.blockedAddress, "only IPv4 and IPv6 destinations are allowed")
        return CURL_SOCKET_BAD
    }
    let ip = String(cString: buffer)
    let place = transfer.redirectNote
    if let reason = transfer.configuration.addressPolicy.refusal(for: ip) {
        transfer.refusal = FetchError(.blockedAddress, "\(reason), refused\(place); --allow-private allows it")
        return CURL_SOCKET_BAD
    }
    if let host = URLComponents(string: transfer.effectiveURL)?.host,
       let reason = HostPolicy.refusal(host: host, configuration: transfer.configuration) {
        transfer.refusal = FetchError(.blockedHost, reason + place)
        return CURL_SOCKET_BAD
    }
    return imgcache_open_socket(address)
}
