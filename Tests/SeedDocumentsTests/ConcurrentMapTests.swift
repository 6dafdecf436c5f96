import Synchronization
@testable import SeedDocuments
import Testing

@Suite("concurrentMap")
struct ConcurrentMapTests {
    /// Counts the instances alive, so a test can see whether the map's results were released.
    final class Tracked: Sendable {
        static let alive = Atomic<Int>(0)
        let value: Int
        init(_ value: Int) {
            self.value = value
            Self.alive.add(1, ordering: .sequentiallyConsistent)
        }
        deinit { Self.alive.subtract(1, ordering: .sequentiallyConsistent) }
    }

    @Test("results come back in order, each transformed once")
    func order() {
        let input = Array(0..<1_000)
        #expect(input.concurrentMap { $0 * 3 } == input.map { $0 * 3 })
        #expect([Int]().concurrentMap { $0 }.isEmpty)
    }

    /// The map once copied its results out of its slots and freed the slots without releasing
    /// them: every document of every scan stayed in memory (the soak's 2 MB a minute).
    @Test("results are released when the caller drops them")
    func released() {
        let before = Tracked.alive.load(ordering: .sequentiallyConsistent)
        do {
            let mapped = Array(0..<5_000).concurrentMap { Tracked($0) }
            #expect(mapped.count == 5_000)
            #expect(mapped.last?.value == 4_999)
            #expect(Tracked.alive.load(ordering: .sequentiallyConsistent) == before + 5_000)
        }
        #expect(Tracked.alive.load(ordering: .sequentiallyConsistent) == before)
    }
}
