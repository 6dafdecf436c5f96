import CacheStore
import Foundation
import ImgCacheKit
import NIOCore
import NIOPosix
import Synchronization

/// Index reads for request handlers run here, on threads of their own: never on the
/// cooperative pool every handler shares (a slow read must not stall other requests), and
/// not on NIO's singleton pool, which streams file bodies.
enum IndexReads {
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: max(2, System.coreCount))
        pool.start()
        return pool
    }()

    /// Reads that walk the index a page at a time (the streamed manifest) run on threads of
    /// their own, half the cores: however many clients stream it, lookups for files always
    /// find a free thread above, and streams take turns page by page.
    static let bulkPool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: max(1, System.coreCount / 2))
        pool.start()
        return pool
    }()

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.runIfActive(body)
    }

    /// A page of a walk over the index.
    static func page<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await bulkPool.runIfActive(body)
    }
}
