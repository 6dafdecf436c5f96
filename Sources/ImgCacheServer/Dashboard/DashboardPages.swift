import CacheStore
import Foundation
import ImgCacheKit
import Synchronization

/// Reads what each dashboard page shows from the index (blocking: run on `IndexReads`). Each
/// page is a bounded number of indexed reads, whatever the size of the cache.
final class DashboardPages: Sendable {
    let service: CacheService
    static let imagesPerPage = 48
    static let rowsPerPage = 50
    /// The places a row lists for its URL (then "and N more").
    static let seedsPerRow = 5

    struct Total { var label: String; var value: String; var detail: String }
    struct Group { var reason: String; var count: String; var href: String; var rows: [SourceRow]; var more: Bool }
    struct Filter { var label: String; var href: String; var on: Bool }
    struct Large { var href: String; var url: String; var size: String; var original: String; var total: String }

    /// The totals and the largest images, read at most once per index generation and 10 s.
    private let statistics = Mutex<(generation: Int, at: ContinuousClock.Instant, stats: IndexStatistics)?>(nil)

    init(service: CacheService) { self.service = service }

    func overview() throws(CacheError) -> [String: Any] {
        let stats = try currentStatistics()
        let recent = try tiles(limit: 24, offset: 0)
        let groups = try service.index.failureGroups(limit: 10)
        let mismatches = try service.index.sizeMismatches(limit: 10, offset: 0)
        var failures: [Group] = []
        for group in groups.prefix(6) {
            let rows = try sourceRows(try service.index.failedSources(kind: group.kind, limit: 5, offset: 0).rows)
            failures.append(Group(reason: group.kind.rawValue, count: DashboardFormat.urls(group.count),
                                  href: "/failures?reason=" + Self.query(group.kind.rawValue), rows: rows, more: group.count > rows.count))
        }
        return [
            "title": "imgcache", "overview": true,
            "totals": totals(stats),
            "recent": recent.rows, "imageCount": DashboardFormat.number(recent.total), "moreImages": recent.total > recent.rows.count,
            "failureGroups": failures, "moreGroups": groups.count > failures.count,
            "mismatchTable": ["rows": try sourceRows(mismatches.rows)], "mismatchCount": DashboardFormat.urls(mismatches.total),
            "moreMismatches": mismatches.total > mismatches.rows.count,
            "largest": stats.largest.map {
                Large(href: "/images/" + $0.digest, url: $0.url ?? "(no URL any more)", size: "\($0.width)×\($0.height)",
                      original: DashboardFormat.bytes($0.originalBytes), total: DashboardFormat.bytes($0.totalBytes))
            },
        ]
    }

    func images(_ filter: ObjectFilter, page: Int) throws(CacheError) -> [String: Any] {
        let found = try tiles(filter, limit: Self.imagesPerPage, offset: (page - 1) * Self.imagesPerPage)
        let query = Self.query(of: filter)
        func link(_ label: String, _ target: ObjectFilter) -> Filter {
            Filter(label: label, href: "/images" + (Self.query(of: target).isEmpty ? "" : "?" + Self.query(of: target)), on: target == filter)
        }
        let filters = [link("all", ObjectFilter()), link("animated", ObjectFilter(animated: true))]
            + StoredFormat.allCases.map { link($0.rawValue, ObjectFilter(format: $0.rawValue, animated: filter.animated)) }
        return ["title": "Images · imgcache", "imagesPage": true, "tiles": found.rows, "filters": filters,
                "heading": [filter.animated ? "animated" : nil, filter.format].compactMap { $0 }.joined(separator: " "),
                "pager": Pager(page: page, perPage: Self.imagesPerPage, total: found.total, path: "/images", query: query)]
    }

    /// The search page: the form as it was filled, and a page of what it found (nothing asked, nothing listed).
    func search(_ search: SourceSearch, after: String?, note: String? = nil) throws(CacheError) -> [String: Any] {
        var page: [String: Any] = [
            "title": "Search · imgcache", "searchPage": true,
            "q": search.text ?? "", "seed": search.seedPath ?? "", "failed": search.failed, "mismatch": search.mismatched,
        ]
        if let note { page["note"] = note }
        guard !search.isEmpty, note == nil else { return page }
        let found = try service.index.search(search, after: after, limit: Self.rowsPerPage)
        var query = Self.query(of: search)
        page["results"] = true
        page["rows"] = try sourceRows(found.rows)
        page["count"] = (found.countIsLowerBound ? "\(DashboardFormat.number(found.count)) or more" : DashboardFormat.number(found.count))
            + (found.count == 1 ? " URL matches" : " URLs match")
        page["first"] = after == nil ? nil : "/search?" + query
        if let next = found.next {
            query += "&after=" + Self.query(next)
            page["next"] = "/search?" + query
        }
        return page
    }

    /// `reason`: a failure kind's name; one that names no kind lists nothing.
    func failures(reason: String?, page: Int) throws(CacheError) -> [String: Any] {
        let kind = reason.flatMap(FailureKind.init(rawValue:))
        let found = reason != nil && kind == nil
            ? IndexPage(rows: [], total: 0)
            : try service.index.failedSources(kind: kind, limit: Self.rowsPerPage, offset: (page - 1) * Self.rowsPerPage)
        let groups = try service.index.failureGroups(limit: 50).map {
            Group(reason: $0.kind.rawValue, count: DashboardFormat.urls($0.count), href: "/failures?reason=" + Self.query($0.kind.rawValue),
                  rows: [], more: false)
        }
        return ["title": "Failures · imgcache", "failuresPage": true, "reason": reason ?? "", "groups": groups,
                "rows": try sourceRows(found.rows),
                "pager": Pager(page: page, perPage: Self.rowsPerPage, total: found.total, path: "/failures",
                               query: reason.map { "reason=" + Self.query($0) } ?? "")]
    }

    func mismatches(page: Int) throws(CacheError) -> [String: Any] {
        let found = try service.index.sizeMismatches(limit: Self.rowsPerPage, offset: (page - 1) * Self.rowsPerPage)
        return ["title": "Size mismatches · imgcache", "mismatchesPage": true, "rows": try sourceRows(found.rows),
                "pager": Pager(page: page, perPage: Self.rowsPerPage, total: found.total, path: "/mismatches")]
    }

    /// One image: the original, every variant in every format, its placeholder and profile, and
    /// the URLs and seeds that name it. Nil when the index has no such original.
    func image(digest: String) throws(CacheError) -> [String: Any]? {
        guard CacheURL.isDigest(digest[...]), let object = try service.index.object(digest) else { return nil }
        let thumbnails = try service.index.thumbnails(digest: digest)
        let byKey = Dictionary(thumbnails.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        let variants = service.variants.map { variant -> [String: Any] in
            let files = variant.renditions.compactMap { byKey[$0.thumbnailKey(digest: digest)] }.map { record -> [String: Any] in
                ["format": record.format.rawValue, "url": CacheURL.of(record), "size": "\(record.width)×\(record.height)",
                 "bytes": DashboardFormat.bytes(record.bytes), "width": record.width, "height": record.height]
            }
            return ["name": variant.name, "files": files, "missing": files.isEmpty]
        }
        return [
            "title": "Image \(digest.prefix(12)) · imgcache", "imagePage": true,
            "digest": digest, "original": CacheURL.of(object),
            "format": object.format.rawValue, "size": "\(object.width)×\(object.height)", "bytes": DashboardFormat.bytes(object.bytes),
            "created": DashboardFormat.date(object.createdAt), "color": DashboardFormat.color(object.dominantColor),
            "blurHash": object.blurHash ?? "none", "profile": object.colorProfile ?? "none (taken as sRGB)",
            "tile": ImageTile(object, thumbnails: thumbnails, variants: service.variants),
            "variants": variants,
            "sourceTable": ["rows": try sourceRows(try service.index.sources(digest: digest))],
        ]
    }

    private func tiles(_ filter: ObjectFilter = .init(), limit: Int, offset: Int) throws(CacheError) -> (rows: [ImageTile], total: Int) {
        let page = try service.index.recentObjects(filter, limit: limit, offset: offset)
        let thumbnails = Dictionary(grouping: try service.index.thumbnails(digests: page.rows.map(\.digest)), by: \.digest)
        return (page.rows.map { ImageTile($0, thumbnails: thumbnails[$0.digest] ?? [], variants: service.variants) }, page.total)
    }

    private func sourceRows(_ sources: [SourceRecord]) throws(CacheError) -> [SourceRow] {
        let seeds = try service.index.seedLocations(urls: sources.map(\.url), perURL: Self.seedsPerRow)
        return sources.map { SourceRow($0, seeds: seeds[$0.url]) }
    }

    private func currentStatistics() throws(CacheError) -> IndexStatistics {
        let generation = try service.index.generation(), now = ContinuousClock.now
        if let cached = statistics.withLock({ $0 }), cached.generation == generation, now - cached.at < .seconds(10) {
            return cached.stats
        }
        let stats = try service.index.statistics(largest: 10)
        statistics.withLock { $0 = (generation, now, stats) }
        return stats
    }

    private func totals(_ stats: IndexStatistics) -> [Total] {
        let thumbnailBytes = stats.thumbnailsByFormat.reduce(0) { $0 + $1.bytes }
        let thumbnailCount = stats.thumbnailsByFormat.reduce(0) { $0 + $1.count }
        let lookups = stats.hits + stats.misses
        let failed = stats.urlsByStatus[.failed] ?? 0
        return [
            Total(label: "Images", value: DashboardFormat.number(stats.originals),
                  detail: "\(DashboardFormat.number(stats.urls)) URLs in the seeds"),
            Total(label: "Cached", value: DashboardFormat.number(stats.urlsCached),
                  detail: "URLs with every thumbnail on disk"),
            Total(label: "Failed", value: DashboardFormat.number(failed), detail: "URLs whose last fetch failed"),
            Total(label: "Originals", value: DashboardFormat.bytes(stats.originalBytes),
                  detail: "\(stats.originalsConverted) converted to sRGB"),
            Total(label: "Thumbnails", value: DashboardFormat.bytes(thumbnailBytes),
                  detail: "\(DashboardFormat.number(thumbnailCount)) files: "
                    + stats.thumbnailsByFormat.map { "\($0.name) \(DashboardFormat.bytes($0.bytes))" }.joined(separator: ", ")),
            Total(label: "Hit ratio", value: lookups == 0 ? "—" : String(format: "%.1f %%", 100 * Double(stats.hits) / Double(lookups)),
                  detail: "\(DashboardFormat.number(stats.hits)) hits, \(DashboardFormat.number(stats.misses)) misses"),
            Total(label: "Last sync", value: DashboardFormat.date(stats.lastSync), detail: ""),
            Total(label: "Last prune", value: DashboardFormat.date(stats.lastPrune),
                  detail: stats.lastPruneBytes.map { "\(DashboardFormat.bytes($0)) reclaimed" } ?? ""),
        ]
    }

    static func query(of filter: ObjectFilter) -> String {
        [filter.animated ? "animated=1" : nil, filter.format.map { "format=" + query($0) }].compactMap { $0 }.joined(separator: "&")
    }

    static func query(of search: SourceSearch) -> String {
        [search.text.map { "q=" + query($0) }, search.seedPath.map { "seed=" + query($0) },
         search.failed ? "failed=1" : nil, search.mismatched ? "mismatch=1" : nil].compactMap { $0 }.joined(separator: "&")
    }

    /// `text` for a query string value.
    static func query(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
    }
}
