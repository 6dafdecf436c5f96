import Dispatch
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Runs the pool's jobs on a dispatch queue of their own, never on Swift's cooperative pool
/// (nor the width-limited global queues): the index's callers block their threads while they
/// use a connection, and on two cores two such callers would otherwise stop the pool itself.
/// The jobs never block, so one serial queue (an overcommitting thread) is enough.
final class LeaseExecutor: TaskExecutor {
    private let queue = DispatchQueue(label: "imgcache.postgres.pool")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}

/// A connection borrowed from PostgresNIO's pool (`PostgresClient`) for synchronous use: the
/// index's API is synchronous (as GRDB's is), and its callers are threads that may block.
/// Queries wait on NIO futures, which complete on the client's event loops.
final class PostgresSession {
    let connection: PostgresConnection
    private let logger: Logger
    /// The server, checked directly while an answer is slow to come.
    private let location: PostgresLocation

    init(connection: PostgresConnection, logger: Logger, location: PostgresLocation) {
        self.connection = connection
        self.logger = logger
        self.location = location
    }

    /// Runs `query` and returns its rows.
    @discardableResult
    func query(_ query: PostgresQuery) throws -> [PostgresRow] {
        try answer(connection.query(query, logger: logger)).rows
    }

    /// Runs `query` and calls `each` with every row as it arrives (large scans: no array of rows).
    func forEach(_ query: PostgresQuery, _ each: @escaping @Sendable (PostgresRow) throws -> Void) throws {
        _ = try answer(connection.query(query, logger: logger, each))
    }

    /// The future's value. A query sent on a connection whose server has just died can wait for
    /// ever (seen with PostgresNIO when PostgreSQL is killed mid-sync), so every 2 s without an
    /// answer the server is checked with a connection of its own: gone, the call fails with its
    /// reason and this connection is closed; there, the wait goes on (a long query).
    private func answer<T: Sendable>(_ future: EventLoopFuture<T>) throws -> T {
        let arrived = DispatchSemaphore(value: 0)
        let result = Mutex<Result<T, any Error>?>(nil)
        future.whenComplete { outcome in
            result.withLock { $0 = outcome }
            arrived.signal()
        }
        while arrived.wait(timeout: .now() + 2) == .timedOut {
            do {
                try PostgresPool.probe(location)
            } catch {
                connection.close().whenComplete { _ in }
                throw error
            }
        }
        guard let outcome = result.withLock({ $0 }) else { throw CacheError(.database, "the PostgreSQL call ended without a result") }
        return try outcome.get()
    }
    /// The first column of the first row, or nil.
    func scalar<T: PostgresDecodable>(_ query: PostgresQuery, as type: T.Type = T.self) throws -> T? {
        guard let row = try self.query(query).first else { return nil }
        let cell = row.makeRandomAccess()[0]
        return cell.bytes == nil ? nil : try cell.decode(T.self)
    }
}

/// The pool and the bridge from it to blocking callers.
final class PostgresPool: Sendable {
    let client: PostgresClient
    let location: PostgresLocation
    private let runner: Task<Void, Never>
    /// Where the pool's own tasks run too: callers may hold every cooperative thread blocked
    /// (a sync test, a sync's workers), and the pool must still be able to hand out connections.
    let executor = LeaseExecutor()
    private static let logger = Logger(label: "imgcache.postgres")

    init(_ location: PostgresLocation, maximumConnections: Int = 16) {
        var configuration = PostgresClient.Configuration(host: location.host, port: location.port, username: location.user,
                                                         password: location.password, database: location.database, tls: .disable)
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = .seconds(5)
        let client = PostgresClient(configuration: configuration)
        self.client = client
        self.location = location
        runner = Task.detached(executorPreference: executor) { await client.run() }
    }

    deinit { runner.cancel() }

    /// Connects once, directly, so that an unreachable or misconfigured server is reported
    /// with its reason (refused, unknown host, no such database, authentication) at once.
    static func probe(_ location: PostgresLocation) throws(CacheError) {
        let connection = try connect(location)
        try? connection.close().wait()
    }

    /// A connection of its own, outside the pool (the probe; a lock held for a whole sync).
    static func connect(_ location: PostgresLocation) throws(CacheError) -> PostgresConnection {
        var configuration = PostgresConnection.Configuration(host: location.host, port: location.port, username: location.user,
                                                             password: location.password, database: location.database, tls: .disable)
        configuration.options.connectTimeout = .seconds(5)
        do {
            return try PostgresConnection.connect(on: PostgresClient.defaultEventLoopGroup.next(),
                                                  configuration: configuration, id: 0, logger: logger).wait()
        } catch {
            throw PostgresIndex.error(error, location: location)
        }
    }

    /// Borrows a connection for `body`; waits at most `timeout` for one (the database may be
    /// unreachable: then the error names it).
    func withSession<T>(timeout: TimeInterval = 15, _ body: (PostgresSession) throws -> T) throws(CacheError) -> T {
        let lease = Lease()
        let task = Task(executorPreference: executor) { [client] in
            do {
                try await client.withConnection { connection in
                    // Held, without blocking a thread, until the caller is done with it.
                    await withCheckedContinuation { lease.leased(connection, until: $0) }
                }
            } catch {
                lease.failed(error)
            }
        }
        defer { lease.finish() }
        // The pool retries a server that is gone for as long as a caller waits: after a short
        // wait a connection of its own tells a busy pool (wait on) from a dead server (fail now,
        // with its reason, so a sync stops within seconds of the server's end).
        let patience = min(2, timeout)
        if lease.ready.wait(timeout: .now() + patience) == .timedOut {
            do { try Self.probe(location) } catch {
                task.cancel()
                throw error
            }
            if lease.ready.wait(timeout: .now() + (timeout - patience)) == .timedOut {
                task.cancel()
                throw CacheError(.database, "cannot reach the PostgreSQL index at \(location) within \(Int(timeout)) s")
            }
        }
        switch lease.outcome {
        case .success(let connection):
            do { return try body(PostgresSession(connection: connection, logger: Self.logger, location: location)) } catch {
                throw PostgresIndex.error(error, location: location)
            }
        case .failure(let error): throw PostgresIndex.error(error, location: location)
        case nil: throw CacheError(.database, "cannot reach the PostgreSQL index at \(location)")
        }
    }
}

/// One hand-over of a pooled connection to a blocking caller.
private final class Lease: Sendable {
    private struct State {
        var outcome: Result<PostgresConnection, any Error>?
        var giveBack: CheckedContinuation<Void, Never>?
        var finished = false
    }
    private let state = Mutex(State())
    /// Signalled once `outcome` is set.
    let ready = DispatchSemaphore(value: 0)

    var outcome: Result<PostgresConnection, any Error>? { state.withLock { $0.outcome } }

    /// The pool lent `connection`; `giveBack` returns it (at once if the caller gave up waiting).
    func leased(_ connection: PostgresConnection, until giveBack: CheckedContinuation<Void, Never>) {
        let abandoned = state.withLock { state -> Bool in
            state.outcome = .success(connection)
            state.giveBack = giveBack
            return state.finished
        }
        if abandoned { giveBack.resume() } else { ready.signal() }
    }

    func failed(_ error: any Error) {
        state.withLock { if $0.outcome == nil { $0.outcome = .failure(error) } }
        ready.signal()
    }

    /// The caller is done (or gave up): the connection goes back to the pool.
    func finish() {
        let giveBack = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.finished = true
            defer { state.giveBack = nil }
            return state.giveBack
        }
        giveBack?.resume()
    }
}
