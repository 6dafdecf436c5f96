#if canImport(Glibc)
import Glibc
#endif
import ServiceLifecycle

/// Hands memory freed after a burst back to the system. glibc keeps freed chunks in its
/// per-thread arenas (the RSS of a server that answered a thousand HTTP/2 streams stays where
/// the burst left it); `malloc_trim(0)` returns the free pages of every arena, as sharp and
/// imgproxy advise for glibc. Runs every `interval` while the server is up, off the event loops.
struct MemoryTrim: Service {
    var interval: Duration = .seconds(10)

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            if Task.isShuttingDownGracefully || Task.isCancelled { break }
            Self.trim()
        }
    }

    static func trim() {
        #if canImport(Glibc)
        _ = glibcMallocTrim(0)
        #endif
    }
}

#if canImport(Glibc)
/// glibc's `int malloc_trim(size_t pad)` (in <malloc.h>, which the Glibc module does not export).
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32
#endif
