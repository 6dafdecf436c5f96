/// How many of something each key holds (connections per address, requests per client,
/// senders per connection); a key is dropped when its count is back to zero.
struct CountsByKey<Key: Hashable & Sendable>: Sendable {
    private var counts: [Key: Int] = [:]

    subscript(key: Key) -> Int { counts[key, default: 0] }

    /// Counts one more for `key`, unless it holds `limit` already (0: no limit).
    mutating func add(_ key: Key, below limit: Int = 0) -> Bool {
        let now = counts[key, default: 0]
        if limit > 0, now >= limit { return false }
        counts[key] = now + 1
        return true
    }

    mutating func remove(_ key: Key) {
        let left = counts[key, default: 1] - 1
        counts[key] = left > 0 ? left : nil
    }
}

/// Something a response holds while it is sent (a streaming slot, a client's place, a sending
/// turn), given back when the last reference to it goes, however the response ended.
final class Held: Sendable {
    private let release: @Sendable () -> Void
    init(release: @escaping @Sendable () -> Void) { self.release = release }
    deinit { release() }
}
