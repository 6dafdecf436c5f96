import CacheStore
import Foundation

/// Writes the manifest a page of the index at a time (`IndexPaging`): what it holds at once is
/// one page of images, whatever the size of the cache. The server streams it as chunks and
/// `export` writes it to a file; both get the bytes one `next` call at a time.
///
/// JSON is the `Manifest` document (`images` keyed by URL in byte order, then `next` on a page);
/// NDJSON is one image per line, `{"url": …, …}`, for tools that read line by line.
public struct ManifestWriter: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case json, ndjson
        public var mediaType: String { self == .json ? "application/json" : "application/x-ndjson" }
    }

    /// Where the writer is: the last URL written, and how many so far.
    public struct Position: Sendable {
        var after: String?
        public internal(set) var written = 0
        var started = false
    }

    let index: any IndexStorage
    let variants: [Variant]
    let scope: SeedScope
    let format: Format
    let srcset: VariantURLs?
    let fileURL: @Sendable (ThumbnailRecord) -> String
    /// At most this many images (a manifest page: the JSON ends with `next`, the cursor of the
    /// page after); nil: all of them.
    let limit: Int?
    let pageSize: Int

    public init(index: any IndexStorage, variants: [Variant], scope: SeedScope = .all, format: Format = .json,
                srcset: VariantURLs? = nil, after: String? = nil, limit: Int? = nil, pageSize: Int = 500,
                fileURL: @escaping @Sendable (ThumbnailRecord) -> String) {
        self.index = index
        self.variants = variants
        self.scope = scope
        self.format = format
        self.srcset = srcset
        self.limit = limit
        self.pageSize = max(1, pageSize)
        self.fileURL = fileURL
        self.start = Position(after: after)
    }

    /// Where the first `next` begins.
    public let start: Position

    /// The bytes after `position` and where the next ones begin; nil when these were the last.
    /// `page`, when given, sees each page of the index as it is written (what `export` publishes).
    public func next(_ position: Position, page: ((IndexContents, [(url: String, image: Manifest.Image)]) throws -> Void)? = nil)
        throws -> (data: Data, next: Position?) {
        var position = position
        var data = Data()
        if !position.started {
            position.started = true
            if format == .json { data.append(contentsOf: Array("{\n  \"images\" : {".utf8)) }
        }
        let want = limit.map { min(pageSize, $0 - position.written) } ?? pageSize
        let contents = want > 0 ? try index.contentsPage(scope, after: position.after, limit: want)
                                : IndexContents()
        let images = Manifest.images(of: contents, variants: variants, srcset: srcset, fileURL: fileURL)
        try page?(contents, images)
        let encoders = Encoders()
        for (url, image) in images {
            data.append(try encode(url: url, image: image, first: position.written == 0, with: encoders))
            position.written += 1
            position.after = url
        }
        if images.count == want && want > 0 { return (data, position) }
        data.append(try ending(position))
        return (data, nil)
    }

    /// Every byte, chunk by chunk, to `sink`: how many images were written.
    @discardableResult
    public func write(to sink: (Data) throws -> Void,
                      page: ((IndexContents, [(url: String, image: Manifest.Image)]) throws -> Void)? = nil) throws -> Int {
        var position: Position? = start
        var written = 0
        while let current = position {
            let (data, next) = try self.next(current) { contents, images in
                written += images.count
                try page?(contents, images)
            }
            try sink(data)
            position = next
        }
        return written
    }

    /// Encoders for one page (made per page: a JSONEncoder is not shared across threads).
    private struct Encoders {
        let pretty = JSONEncoder()
        let compact = JSONEncoder()
        init() {
            pretty.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            compact.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        }
    }

    private func encode(url: String, image: Manifest.Image, first: Bool, with encoders: Encoders) throws -> Data {
        let key = try encoders.compact.encode(url)
        switch format {
        case .ndjson:
            var line = Data("{\"url\":".utf8) + key + Data(",".utf8)
            line.append(try encoders.compact.encode(image).dropFirst())
            line.append(UInt8(ascii: "\n"))
            return line
        case .json:
            // The image's own pretty JSON, indented to sit two levels down (JSON strings hold no raw newline).
            let body = Self.indented(String(decoding: try encoders.pretty.encode(image), as: UTF8.self))
            return Data(((first ? "\n    " : ",\n    ") + String(decoding: key, as: UTF8.self) + " : " + body).utf8)
        }
    }

    /// Pretty JSON moved four spaces right, after its first line (an empty line, as the encoder
    /// writes inside an empty object, stays empty).
    public static func indented(_ json: String) -> String {
        json.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            .map { $0.offset == 0 || $0.element.isEmpty ? String($0.element) : "    " + $0.element }.joined(separator: "\n")
    }

    /// The end of the document: for a page with more after it, `next`.
    private func ending(_ position: Position) throws -> Data {
        guard format == .json else { return Data() }
        var ending = "\n  }"
        if let limit, position.written >= limit, let last = position.after,
           !(try index.contentsPage(scope, after: last, limit: 1, references: false).sources.isEmpty) {
            ending += ",\n  \"next\" : " + String(decoding: try Encoders().compact.encode(last), as: UTF8.self)
        }
        return Data((ending + "\n}\n").utf8)
    }
}
