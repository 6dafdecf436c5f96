import ServiceLifecycle

/// Hands memory freed after a burst back to the system: the pages a thousand HTTP/2 streams
/// left would otherwise stay mapped until the allocator next runs its own purge, which an idle
/// server does not trigger. Runs every `interval` while the server is up, off the event loops.
struct MemoryTrim: Service {
    var interval: Duration = .seconds(10)

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            if Task.isShuttingDownGracefully || Task.isCancelled { break }
            Allocator.returnFreePages()
        }
    }
}
