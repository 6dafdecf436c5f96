import CJemalloc
import Foundation
import ImgCacheServer
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// jemalloc is the process's malloc (linked through CJemalloc), its figures are readable and,
/// once the server has started its background threads, freed pages go back to the system
/// without any further allocation.
@Suite("the allocator", .serialized)
struct AllocatorTests {
    static let bytes = 64 << 20
    /// Other tests allocate meanwhile, but not 8 MB net within a few lines.
    static let slack = 8 << 20

    @Test("malloc and free are jemalloc's: 64 MB malloc'd and touched shows in its allocated bytes, and leaves when freed")
    func mallocIsJemalloc() throws {
        let before = try #require(Allocator.figures())
        let block = try #require(malloc(Self.bytes))
        memset(block, 1, Self.bytes)
        let during = try #require(Allocator.figures())
        free(block)
        let after = try #require(Allocator.figures())
        #expect(during.allocated - before.allocated >= Self.bytes - Self.slack, "\(before) → \(during)")
        #expect(during.allocated - after.allocated >= Self.bytes - Self.slack, "\(during) → \(after)")
        #expect(during.resident >= during.active && during.active >= during.allocated)
    }

    @Test("with the background threads on, 64 MB freed in an arena no thread allocates in again goes back to the system within 30 s")
    func freedPagesReturnUnprompted() async throws {
        #expect(Allocator.purgeInBackground())
        #expect(Allocator.purgesInBackground)
        // A fresh arena, so that no other test's allocations trigger jemalloc's own decay in it,
        // and a thread that stays (its exit would purge): only a background thread can purge it.
        let arena = try #require(Self.newArena())
        let holder = DispatchSemaphore(value: 0)
        defer { holder.signal() }
        await Self.burst(in: arena, thenWaitFor: holder)
        let dirtyAfterFree = try #require(Self.dirtyBytes(arena))
        #expect(dirtyAfterFree >= Self.bytes / 2, "the freed blocks should sit dirty in arena \(arena) first")
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(30)
        var dirty = dirtyAfterFree
        while dirty > Self.bytes / 16, clock.now < deadline {
            try await Task.sleep(for: .milliseconds(500))
            dirty = try #require(Self.dirtyBytes(arena))
        }
        #expect(dirty <= Self.bytes / 16, "arena \(arena) still holds \(dirty) dirty bytes of \(dirtyAfterFree)")
    }

    /// On a thread bound to `arena`: mallocs and touches 64 MB in 16 KB blocks (as a burst of
    /// requests leaves them), frees them and flushes the thread's cache; returns then, while the
    /// thread waits for `holder` before it ends.
    static func burst(in arena: UInt32, thenWaitFor holder: DispatchSemaphore) async {
        await withCheckedContinuation { (freed: CheckedContinuation<Void, Never>) in
            Thread {
                var index = arena
                _ = mallctl("thread.arena", nil, nil, &index, MemoryLayout<UInt32>.size)
                let blocks = (0..<(bytes >> 14)).map { _ in malloc(1 << 14) }
                for block in blocks { if let block { memset(block, 1, 1 << 14) } }
                for block in blocks { free(block) }
                _ = mallctl("thread.tcache.flush", nil, nil, nil, 0)
                freed.resume()
                holder.wait()
            }.start()
        }
    }

    static func newArena() -> UInt32? {
        var index: UInt32 = 0
        var size = MemoryLayout<UInt32>.size
        return mallctl("arenas.create", &index, &size, nil, 0) == 0 ? index : nil
    }

    /// `stats.arenas.<i>.pdirty`: pages freed in the arena and not yet returned, in bytes.
    static func dirtyBytes(_ arena: UInt32) -> Int? {
        var epoch: UInt64 = 1
        guard mallctl("epoch", nil, nil, &epoch, MemoryLayout<UInt64>.size) == 0 else { return nil }
        var pages = 0
        var size = MemoryLayout<Int>.size
        guard mallctl("stats.arenas.\(arena).pdirty", &pages, &size, nil, 0) == 0 else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
