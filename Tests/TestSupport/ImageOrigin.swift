import Foundation

/// A local origin serving fixture images with validators, plus misbehaving routes.
public final class ImageOrigin: @unchecked Sendable {
    public let origin: TestOrigin
    private let lock = NSLock()
    private var maxAge = 3600
    private var changing = "jpeg/baseline/hopper.jpg"
    private var failing = false
    private var slow = false

    public static let images: [String: String] = [
        "/a.jpg": "jpeg/metadata/flower2.jpg",              // 300x225
        "/b.png": "png/pil123rgba.png",                     // 162x150, transparent
        "/c.jpg": "jpeg/orientation/Landscape_6.jpg",       // stored 1200x1800, orientation 6: shown 1800x1200
        "/dup-1.jpg": "jpeg/baseline/testorig.jpg",
        "/dup-2.jpg": "jpeg/baseline/testorig.jpg",
        "/sometimes.jpg": "jpeg/subsampling/flower-420.jpg",
        "/still.gif": "../formats/gif/static.gif",           // 48x48
        "/clear.gif": "../formats/gif/transparent.gif",      // 256x1, transparent
        "/moving.gif": "../formats/gif/animated.gif",        // 64x48, 3 frames, the first at an offset
        "/photo.tiff": "../formats/stills/strips.tiff",      // 64x48
        "/photo.heic": "../formats/stills/photo.heic",       // 64x48
        "/photo.jxl": "../formats/stills/photo.jxl",         // 128x128 (hopper.jpg recompressed)
        "/pic.bmp": "../formats/stills/bits8.bmp",           // 64x48
        "/favicon.ico": "../formats/stills/bmp-entries.ico", // 48x48 largest, transparent
        "/logo.svg": "../formats/svg/viewbox.svg",           // 64x48 viewBox, transparent
        "/moving.webp": "../formats/gif/animated.webp",      // moving.gif as an animated WebP
        "/moving.png": "../formats/gif/animated.apng",       // moving.gif as an APNG
    ]

    public init() throws {
        let state = StateBox()
        origin = try TestOrigin { request, _ in state.owner?.reply(request) ?? .hangUp }
        state.owner = self
    }

    public func set(maxAge: Int? = nil, changing: String? = nil, failing: Bool? = nil, slow: Bool? = nil) {
        lock.withLock {
            if let maxAge { self.maxAge = maxAge }
            if let changing { self.changing = changing }
            if let failing { self.failing = failing }
            if let slow { self.slow = slow }
        }
    }

    public func url(_ path: String) -> String { origin.url(path) }

    private func reply(_ request: TestOrigin.Request) -> TestOrigin.Reply {
        let (maxAge, changing, failing, slow) = lock.withLock { (self.maxAge, self.changing, self.failing, self.slow) }
        let path = request.path
        var fixture = Self.images[path]
        if path == "/changing.jpg" { fixture = changing }
        if path == "/sometimes.jpg" && failing { return .respond(status: 500, headers: [:], body: Data()) }
        if path == "/missing.jpg" { return .respond(status: 404, headers: [:], body: Data("no".utf8)) }
        if path == "/page.jpg" {
            return .respond(status: 200, headers: ["Content-Type": "image/jpeg"],
                            body: Data("<!DOCTYPE html><html><body>Oops</body></html>".utf8))
        }
        if path == "/large.jpg", let photo = try? Fixtures.data(Self.images["/a.jpg"]!) {
            // /a.jpg with 8 MB after its end marker: a large original (decoders stop at the marker).
            return .respond(status: 200, headers: ["Content-Type": "image/jpeg"], body: photo + Data(repeating: 0x55, count: 8 << 20))
        }
        guard let fixture, let body = try? Fixtures.data(fixture) else { return .respond(status: 404, headers: [:], body: Data()) }
        let etag = "\"" + String(SeedFiles.fnv1a(body), radix: 16) + "\""
        let headers = ["ETag": etag, "Cache-Control": "max-age=\(maxAge)", "Last-Modified": "Wed, 01 Jan 2025 00:00:00 GMT"]
        if request.headers["if-none-match"] == etag { return .respond(status: 304, headers: headers, body: Data()) }
        if slow { return .drip(headers: headers, body: body, bytesPerStep: 2048, interval: 0.05) }
        return .respond(status: 200, headers: headers, body: body)
    }

    private final class StateBox: @unchecked Sendable { weak var owner: ImageOrigin? }
}

/// Seed documents for tests.
public enum SeedFiles {
    /// Writes a seed document listing `urls` (with an optional declared "WxH") and isCached: false.
    public static func write(_ folder: URL, name: String = "article.md", urls: [(String, String?)]) throws {
        var text = "---\ntitle: test\nimages:\n"
        for (url, size) in urls {
            text += "  - url: \"\(url)\"\n"
            if let size {
                let parts = size.split(separator: "x")
                text += "    width: \(parts[0])\n    height: \(parts[1])\n"
            }
            text += "    isCached: false\n"
        }
        text += "---\nBody.\n"
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try text.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    /// FNV-1a, for stable test ETags.
    public static func fnv1a(_ data: Data) -> UInt64 {
        data.reduce(14695981039346656037 as UInt64) { ($0 ^ UInt64($1)) &* 1099511628211 }
    }
}
