import CJemalloc

/// The process's allocator: jemalloc, linked in place of glibc's malloc (whose per-thread arenas
/// fragment under the server's load: an hour's soak saw RSS rise 0.2 MB a minute while the heap
/// in use stayed flat). Its figures go to /metrics, so an operator can tell a leak (allocated
/// grows) from fragmentation (resident grows, allocated does not).
public enum Allocator {
    /// jemalloc's totals, in bytes (`stats.*` in jemalloc(3)).
    public struct Figures: Sendable, Equatable {
        /// Bytes the program has allocated and not freed.
        public var allocated: Int
        /// Bytes in pages that hold allocations (≥ allocated).
        public var active: Int
        /// Bytes of physical memory the allocator maps (its share of RSS).
        public var resident: Int
        /// Bytes of address space kept for reuse but returned to the kernel.
        public var retained: Int
    }

    /// The current figures (jemalloc refreshes its statistics when its epoch is advanced); nil
    /// when the statistics cannot be read.
    public static func figures() -> Figures? {
        var epoch: UInt64 = 1
        guard mallctl("epoch", nil, nil, &epoch, MemoryLayout<UInt64>.size) == 0 else { return nil }
        guard let allocated = value("stats.allocated"), let active = value("stats.active"),
              let resident = value("stats.resident"), let retained = value("stats.retained") else { return nil }
        return Figures(allocated: allocated, active: active, resident: resident, retained: retained)
    }

    /// Starts jemalloc's background threads (`background_thread`), which return freed pages to
    /// the system as they age past the decay time (10 s), whether or not the process allocates
    /// meanwhile. Without them a server idle after a burst keeps the burst's pages, since
    /// jemalloc otherwise decays only on its allocation path. (A full purge every 10 s did the
    /// same, but it also unmapped pages about to be reused, and an hour's p99 grew with it.)
    /// Returns whether they run.
    @discardableResult
    public static func purgeInBackground() -> Bool {
        var on = true
        guard mallctl("background_thread", nil, nil, &on, MemoryLayout<Bool>.size) == 0 else { return false }
        return purgesInBackground
    }

    /// Whether jemalloc's background threads are on.
    public static var purgesInBackground: Bool {
        var on = false
        var size = MemoryLayout<Bool>.size
        return mallctl("background_thread", &on, &size, nil, 0) == 0 && on
    }

    private static func value(_ name: String) -> Int? {
        var value = 0
        var size = MemoryLayout<Int>.size
        return mallctl(name, &value, &size, nil, 0) == 0 ? value : nil
    }
}
