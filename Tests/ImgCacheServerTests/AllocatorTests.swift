import Foundation
import ImgCacheServer
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// jemalloc is the process's malloc (linked through CJemalloc), its figures are readable and
/// its freed pages go back to the system on request (the server's `MemoryTrim`).
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

    @Test("returnFreePages gives 64 MB freed in small blocks back: resident falls by it")
    func freedPagesReturn() throws {
        // Blocks of 16 KB, as a burst of requests leaves them (a block over 8 MB is given back
        // at once when freed; small ones stay for reuse until jemalloc's decay or a purge).
        let blocks = (0..<(Self.bytes >> 14)).map { _ in malloc(1 << 14) }
        for block in blocks { if let block { memset(block, 1, 1 << 14) } }
        let during = try #require(Allocator.figures())
        for block in blocks { free(block) }
        let freed = try #require(Allocator.figures())
        #expect(Allocator.returnFreePages())
        let returned = try #require(Allocator.figures())
        #expect(during.allocated - freed.allocated >= Self.bytes - Self.slack, "\(during) → \(freed)")
        // Most of it: jemalloc may have purged some pages on its own while the blocks were freed.
        #expect(freed.resident - returned.resident >= Self.bytes / 2, "\(freed) → \(returned)")
    }
}
