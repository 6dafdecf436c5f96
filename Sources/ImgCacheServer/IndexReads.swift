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

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.runIfActive(body)
    }
}
