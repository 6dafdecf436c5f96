import CacheStore
import Foundation

/// The URLs a sync works on, read from the index in sorted pages: every referenced URL (`all`),
/// or those the index's set queries call due (new, failed, expired, not cached) merged with
/// the URLs of the files read now. What is held is one page and the URLs read now (at most
/// `Syncer.readNowLimit`; past that the sync takes every URL), never the due list itself.
struct DueURLs {
    let index: any IndexStorage
    let all: Bool
    /// The URLs of the files read now, sorted by their bytes (empty with `all`).
    let readNow: [String]
    let now: Date
    /// The index's first page, read once: when it is the only one (an incremental sync), the
    /// count and the run need no second query.
    private let first: [String]
    static let page = 5_000

    init(index: any IndexStorage, all: Bool, readNow: [String], now: Date) throws(CacheError) {
        (self.index, self.all, self.readNow, self.now) = (index, all, readNow, now)
        first = try index.dueURLs(now: now, all: all, after: nil, limit: Self.page)
    }

    /// None at all (the seeds folder is not there: nothing is synced).
    init(none index: any IndexStorage) {
        (self.index, all, readNow, now, first) = (index, false, [], Date(), [])
    }

    /// Each due URL once, in byte order (the indexes' order).
    func forEach(_ body: (String) throws(CacheError) -> Void) throws(CacheError) {
        var after: String?
        var next = 0
        while true {
            let page = after == nil ? first : try index.dueURLs(now: now, all: all, after: after, limit: Self.page)
            for url in page {
                while next < readNow.count, IndexOrder.precedes(readNow[next], url) {
                    try body(readNow[next])
                    next += 1
                }
                if next < readNow.count, readNow[next].utf8.elementsEqual(url.utf8) { next += 1 }
                try body(url)
            }
            guard page.count == Self.page else { break }
            after = page.last
        }
        for url in readNow[next...] { try body(url) }
    }

    /// How many there are (for the progress bar's total: a pass that holds nothing, and makes
    /// no query when the first page was the only one).
    func count() throws(CacheError) -> Int {
        var count = 0
        try forEach { _ in count += 1 }
        return count
    }

    /// `size` URLs at a time.
    func forEachWindow(_ size: Int, _ body: ([String]) throws(CacheError) -> Void) throws(CacheError) {
        var window: [String] = []
        try forEach { url throws(CacheError) in
            window.append(url)
            guard window.count >= size else { return }
            try body(window)
            window.removeAll(keepingCapacity: true)
        }
        if !window.isEmpty { try body(window) }
    }
}
