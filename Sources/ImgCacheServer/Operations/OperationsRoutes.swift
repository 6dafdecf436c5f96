import Foundation
import Hummingbird
import NIOCore

/// `/healthz` (liveness: the process answers), `/readyz` (readiness, see `Readiness`) and `/metrics`.
func addOperationsRoutes(to router: Router<ServerRequestContext>, service: CacheService, metrics: ServerMetrics) {
    router.get("/healthz") { _, _ -> Response in
        Response(status: .ok, headers: [.contentType: "text/plain", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
    }

    let readiness = Readiness(service: service, metrics: metrics)
    router.get("/readyz") { _, _ -> Response in
        let checks = try await IndexReads.run { readiness.checks() }
        let ready = checks.allSatisfy(\.ok)
        let body = try JSONEncoder().encode(ReadyAnswer(ready: ready, checks: checks))
        return Response(status: ready ? .ok : .serviceUnavailable, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(data: body)))
    }

    router.get("/metrics") { _, _ -> Response in
        metrics.update(try await IndexReads.run { try service.totals() })
        if let allocator = Allocator.figures() { metrics.update(allocator) }
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                        body: .init(byteBuffer: ByteBuffer(bytes: metrics.registry.emitToBuffer())))
    }
}

/// `/readyz`'s body: `{"ready": false, "checks": [{"name": "index", "ok": false, "problem": "…"}, …]}`.
public struct ReadyAnswer: Codable, Sendable {
    public var ready: Bool
    public var checks: [Readiness.Check]
}
