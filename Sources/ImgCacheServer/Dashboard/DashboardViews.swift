import CacheStore
import Foundation
import ImgCacheKit

/// What the templates show: plain strings and lists, every one escaped by the template (the
/// `{{…}}` form), computed here from index records.
struct ImageTile {
    var digest: String
    var href: String
    var thumbnail: String?
    var width: Int
    var height: Int
    var color: String
    var caption: String
}

struct SourceRow {
    var url: String
    var link: String?
    var status: String
    var error: String?
    var declared: String
    var decoded: String
    var cached: Bool
    var seeds: [String]
    var image: String?
}

struct Pager {
    var page: Int
    var pages: Int
    var total: String
    var previous: String?
    var next: String?

    /// Links to the neighbouring pages of `path` (with `query` kept).
    init(page: Int, perPage: Int, total: Int, path: String, query: String = "") {
        self.page = page
        pages = max(1, (total + perPage - 1) / perPage)
        self.total = DashboardFormat.number(total)
        let prefix = path + "?" + (query.isEmpty ? "" : query + "&") + "page="
        previous = page > 1 ? prefix + String(page - 1) : nil
        next = page < pages ? prefix + String(page + 1) : nil
    }
}

extension ImageTile {
    /// A tile for `object`, showing the smallest thumbnail of the first configured variant
    /// that is cached in a format every browser shows.
    init(_ object: ObjectRecord, thumbnails: [ThumbnailRecord], variants: [Variant]) {
        digest = object.digest
        href = "/images/" + object.digest
        color = DashboardFormat.color(object.dominantColor)
        caption = "\(object.width)×\(object.height) · \(DashboardFormat.bytes(object.bytes))"
        let shown = Self.preview(object.digest, thumbnails: thumbnails, variants: variants)
        thumbnail = shown.map(CacheURL.of)
        let box = shown.map { Size(width: $0.width, height: $0.height) } ?? Size(width: object.width, height: object.height)
        // The tile's box, at most 160 px on its longer side, so the grid does not move as images arrive.
        let scale = 160.0 / Double(max(box.width, box.height, 1))
        width = max(1, Int((Double(box.width) * min(scale, 1)).rounded()))
        height = max(1, Int((Double(box.height) * min(scale, 1)).rounded()))
    }

    /// The thumbnail of the first variant whose current rendition is cached, JPEG or PNG first.
    static func preview(_ digest: String, thumbnails: [ThumbnailRecord], variants: [Variant]) -> ThumbnailRecord? {
        let byKey = Dictionary(thumbnails.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        for variant in variants {
            let cached = variant.renditions.compactMap { byKey[$0.thumbnailKey(digest: digest)] }
            if let best = cached.min(by: { rank($0.format) < rank($1.format) }) { return best }
        }
        return nil
    }

    private static func rank(_ format: StoredFormat) -> Int { ImageFormat.allCases.firstIndex(of: format) ?? 9 }

    private struct Size { var width: Int, height: Int }
}

extension SourceRow {
    init(_ source: SourceRecord, seeds: SeedLocations?) {
        url = source.url
        link = DashboardFormat.link(source.url)
        status = source.status.rawValue
        error = source.lastError
        declared = Self.size(source.declaredWidth, source.declaredHeight)
        decoded = Self.size(source.decodedWidth, source.decodedHeight)
        cached = source.isCached
        self.seeds = DashboardFormat.seeds(seeds)
        image = source.digest.map { "/images/" + $0 }
    }

    static func size(_ width: Int?, _ height: Int?) -> String {
        switch (width, height) {
        case (nil, nil): "—"
        case let (w, h): "\(w.map(String.init) ?? "auto")×\(h.map(String.init) ?? "auto")"
        }
    }
}
