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

/// The manifest, built once per index generation (see `CacheIndex.write`) and shared by every
/// request: concurrent requests for a generation not built yet wait for one build.
public final class ManifestCache: Sendable {
    public struct Built: Sendable {
        public let generation: Int
        public let manifest: Manifest
        /// Its URLs, sorted: the order pages follow.
        public let urls: [String]
        public let json: ByteBuffer
        /// Strong: a hash of the bytes, so replicas with the same index give the same tag.
        public let etag: String
    }

    private struct State: ~Copyable {
        var built: Built?
        var building: (generation: Int, task: Task<Built, any Error>)?
    }

    private let state = Mutex(State())
    private let service: CacheService
    /// Manifests built so far (for tests and metrics).
    public let builds = Atomic<Int>(0)

    public init(service: CacheService) {
        self.service = service
    }

    private enum Next { case ready(Built), building(Task<Built, any Error>) }

    /// The manifest of the index as it is now.
    public func current() async throws -> Built {
        let generation = try await IndexReads.run { [service] in try service.index.generation() }
        let next = state.withLock { state -> Next in
            if let built = state.built, built.generation == generation { return .ready(built) }
            if let building = state.building, building.generation == generation { return .building(building.task) }
            let task = Task { try await self.build(generation) }
            state.building = (generation, task)
            return .building(task)
        }
        switch next {
        case .ready(let built): return built
        case .building(let task): return try await task.value
        }
    }

    private func build(_ generation: Int) async throws -> Built {
        do {
            let built = try await IndexReads.run { [service] () throws -> Built in
                let manifest = try service.manifest(seed: nil)
                let data = manifest.json()
                return Built(generation: generation, manifest: manifest, urls: manifest.images.keys.sorted(), json: ByteBuffer(data: data),
                             etag: ETag.of(data))
            }
            builds.add(1, ordering: .relaxed)
            state.withLock { state in
                // What was read is at least as new as `generation` (read before the build began).
                if (state.built?.generation ?? Int.min) < generation { state.built = built }
                if state.building?.generation == generation { state.building = nil }
            }
            return built
        } catch {
            state.withLock { state in if state.building?.generation == generation { state.building = nil } }
            throw error
        }
    }
}
