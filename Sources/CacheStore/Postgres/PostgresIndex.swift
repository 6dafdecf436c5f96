import Foundation
import NIOCore
import NIOPosix
import PostgresNIO

/// The index in a PostgreSQL database that several machines share (PostgresNIO, its pool).
/// The same tables and named migrations as the SQLite index, the same named transactions;
/// what a flock does on one host, advisory locks do here:
/// - a remover (prune, verify --repair) takes `pg_advisory_lock` (exclusive, held by its
///   connection) inside its transaction, deletes rows, commits, deletes the blobs, unlocks;
/// - a writer takes `pg_advisory_xact_lock_shared` as its transaction's first statement, then
///   checks or restores its blobs, then inserts rows; the lock ends with its transaction.
/// So no row names a blob that a committed removal is about to delete, as with SQLite.
///
/// Every write transaction but the access ledger's then moves the generation (a sequence,
/// after the commit, so a reader that sees the new generation sees the new rows) and
/// NOTIFYs `imgcache_index`: serve replicas learn of a prune at once (`changes()`).
public final class PostgresIndex: Sendable {
    public let location: PostgresLocation
    let pool: PostgresPool
    static let removalLockKey: Int64 = 0x696D_6763_7276 // "imgcrv"
    static let migrationLockKey: Int64 = 0x696D_6763_6D67 // "imgcmg"
    static let syncLeaseKey: Int64 = 0x696D_6763_736C // "imgcsl"
    static let channel = "imgcache_index"

    /// Connects (a clear error naming the server when it cannot) and applies the migrations
    /// this version knows that the database lacks, one process at a time.
    public init(_ location: PostgresLocation) throws(CacheError) {
        self.location = location
        try PostgresPool.probe(location)
        pool = PostgresPool(location)
        try pool.withSession(timeout: 10) { session in try Self.migrate(session) }
    }

    /// Runs `body` in a transaction, retried (up to 5 times) when PostgreSQL aborts it for a
    /// deadlock or a serialization failure; `body` must be safe to run again (blob writes are:
    /// they are content-addressed). A write moves the generation after its commit.
    func transaction<T>(write: Bool = true, _ body: (PostgresSession) throws -> T) throws(CacheError) -> T {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try pool.withSession { session in
                    try session.query("BEGIN")
                    do {
                        let result = try body(session)
                        try session.query("COMMIT")
                        if write { try Self.announce(session, "write") }
                        return result
                    } catch {
                        _ = try? session.query("ROLLBACK")
                        throw error
                    }
                }
            } catch where attempt < 5 && Self.isRetryable(error.cause) {
                usleep(UInt32.random(in: 2_000...20_000) * UInt32(attempt))
            }
        }
    }

    /// A read in one snapshot (REPEATABLE READ, READ ONLY): the manifest and status see one state.
    func read<T>(timeout: TimeInterval = 15, _ body: (PostgresSession) throws -> T) throws(CacheError) -> T {
        try pool.withSession(timeout: timeout) { session in
            try session.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            defer { _ = try? session.query("COMMIT") }
            return try body(session)
        }
    }

    /// Runs `body` (a removal) in a transaction holding the removal lock exclusively; after the
    /// commit `removeFiles` deletes the blobs `body` named, then the lock is released.
    func removingFiles(_ removeFiles: ([BlobKey]) -> Int, _ body: (PostgresSession) throws -> [BlobKey]) throws(CacheError) -> Int {
        try pool.withSession(timeout: 60) { session in
            try session.query("SELECT pg_advisory_lock(\(Self.removalLockKey))")
            defer { _ = try? session.query("SELECT pg_advisory_unlock(\(Self.removalLockKey))") }
            try session.query("BEGIN")
            let keys: [BlobKey]
            do {
                keys = try body(session)
                try session.query("COMMIT")
            } catch {
                _ = try? session.query("ROLLBACK")
                throw error
            }
            try Self.announce(session, "prune")
            return keys.isEmpty ? 0 : removeFiles(keys)
        }
    }

    /// A writer's first statement: waits while a removal is deleting blobs (see the type's note).
    static func holdRemovalLockShared(_ session: PostgresSession) throws {
        try session.query("SELECT pg_advisory_xact_lock_shared(\(removalLockKey))")
    }

    private static func announce(_ session: PostgresSession, _ kind: String) throws {
        try session.query("SELECT nextval('index_generation'), pg_notify(\(channel), \(kind))")
    }

    public func generation() throws(CacheError) -> Int {
        try pool.withSession { session in
            try session.scalar("SELECT last_value + CASE WHEN is_called THEN 0 ELSE -1 END FROM index_generation", as: Int.self) ?? 0
        }
    }

    static func isRetryable(_ error: (any Error)?) -> Bool {
        guard let error = error as? PSQLError, let state = error.serverInfo?[.sqlState] else { return false }
        return state == "40P01" || state == "40001"
    }

    /// A CacheError that says what PostgreSQL (or the network) said, and which server it was.
    static func error(_ error: any Error, location: PostgresLocation) -> CacheError {
        if let error = error as? CacheError { return error }
        guard let error = error as? PSQLError else { return CacheError.database("PostgreSQL index at \(location)", error) }
        if let info = error.serverInfo, let message = info[.message] {
            let detail = [info[.detail], info[.hint]].compactMap { $0 }.joined(separator: "; ")
            return CacheError(.database, "PostgreSQL index at \(location): \(message)"
                              + (detail.isEmpty ? "" : " (\(detail))") + " [\(info[.sqlState] ?? "?")]", cause: error)
        }
        let reason = error.underlying.map(connectionProblem) ?? "\(error.code)"
        return CacheError(.database, "cannot reach the PostgreSQL index at \(location): \(reason)", cause: error)
    }

    /// What went wrong on the way to the server, in words ("Connection refused", not NIO's
    /// type dump): the system's text for a socket error, the resolver's for a name.
    static func connectionProblem(_ error: any Error) -> String {
        if let error = error as? NIOConnectionError {
            if let dns = error.dnsAError ?? error.dnsAAAAError { return "cannot resolve \(error.host): \(connectionProblem(dns))" }
            return error.connectionErrors.first.map { connectionProblem($0.error) } ?? "no address to connect to"
        }
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        if error is ChannelError, "\(error)".contains("connectTimeout") { return "connection timed out" }
        return "\(error)"
    }
}

/// Notifications of the index's writes, for serve replicas.
extension PostgresIndex {
    /// An endless stream with an element each time another process (or this one) commits a
    /// write; the kind is "prune" for removals. It LISTENs on a connection of its own and
    /// reconnects after an outage (yielding once then, as something may have changed meanwhile).
    public func changes() -> AsyncStream<String>? {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(8))
        let client = pool.client
        let task = Task.detached(executorPreference: pool.executor) {
            var first = true
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: Self.channel) { notifications in
                            if !first { continuation.yield("prune") }
                            first = false
                            for try await notification in notifications { continuation.yield(notification.payload) }
                        }
                    }
                } catch {
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}

/// Migrations: the SQLite index's, by the same names, in PostgreSQL's types.
extension PostgresIndex {
    static let migrations: [(name: String, sql: [String])] = [
        ("v1: objects, sources, thumbnails, seed references", [
            """
            CREATE TABLE objects (digest TEXT PRIMARY KEY, bytes BIGINT NOT NULL, format TEXT NOT NULL,
                width BIGINT NOT NULL, height BIGINT NOT NULL, created_at TIMESTAMPTZ NOT NULL)
            """,
            """
            CREATE TABLE sources (url TEXT PRIMARY KEY, digest TEXT REFERENCES objects ON DELETE SET NULL,
                etag TEXT, last_modified TEXT, fetched_at TIMESTAMPTZ, expires_at TIMESTAMPTZ,
                declared_width BIGINT, declared_height BIGINT, decoded_width BIGINT, decoded_height BIGINT,
                status TEXT NOT NULL DEFAULT 'pending', last_error TEXT, is_cached BOOLEAN NOT NULL DEFAULT FALSE,
                updated_at TIMESTAMPTZ NOT NULL)
            """,
            """
            CREATE TABLE thumbnails (key TEXT PRIMARY KEY, digest TEXT NOT NULL REFERENCES objects ON DELETE CASCADE,
                variant TEXT NOT NULL, width BIGINT NOT NULL, height BIGINT NOT NULL, format TEXT NOT NULL,
                bytes BIGINT NOT NULL, created_at TIMESTAMPTZ NOT NULL)
            """,
            "CREATE INDEX thumbnails_digest ON thumbnails (digest)",
            "CREATE TABLE seed_references (seed_path TEXT NOT NULL, url TEXT NOT NULL, line BIGINT, PRIMARY KEY (seed_path, url))",
            "CREATE INDEX seed_references_url ON seed_references (url)",
        ]),
        ("v2: placeholders", ["ALTER TABLE objects ADD COLUMN blurhash TEXT, ADD COLUMN dominant_color TEXT"]),
        ("v3: access ledger", ["CREATE TABLE access (digest TEXT PRIMARY KEY, last_access TIMESTAMPTZ NOT NULL)"]),
        ("v4: prune", [
            "ALTER TABLE sources ADD COLUMN referenced_at TIMESTAMPTZ",
            "CREATE INDEX sources_digest ON sources (digest)",
            // SQLite's meta values are untyped; here a counter and a time.
            "CREATE TABLE meta (key TEXT PRIMARY KEY, number BIGINT, at TIMESTAMPTZ)",
            // The generation (a meta counter in SQLite): a sequence, so writers do not queue on one row.
            "CREATE SEQUENCE index_generation",
        ]),
        ("v5: thumbnail hashes", ["ALTER TABLE thumbnails ADD COLUMN sha256 TEXT"]),
        ("v6: colour profiles, formats per variant", [
            "ALTER TABLE objects ADD COLUMN color_profile TEXT",
            "CREATE INDEX thumbnails_digest_variant ON thumbnails (digest, variant)",
        ]),
        ("v7: dashboard orders", [
            "CREATE INDEX objects_created_at ON objects (created_at)",
            "CREATE INDEX sources_status ON sources (status)",
        ]),
        ("v8: sync lease", [
            "CREATE TABLE sync_lease (id BIGINT PRIMARY KEY, host TEXT NOT NULL, pid BIGINT NOT NULL, since TIMESTAMPTZ NOT NULL)",
        ]),
        ("v9: animations", ["ALTER TABLE objects ADD COLUMN frames BIGINT, ADD COLUMN duration_ms BIGINT"]),
        ("v10: failure kinds", [
            "ALTER TABLE sources ADD COLUMN failure_kind TEXT",
            "UPDATE sources SET failure_kind = \(FailureKind.backfill(prefix: "split_part(COALESCE(last_error, ''), ':', 1)")) WHERE status = 'failed'",
            "CREATE INDEX sources_status_failure_kind ON sources (status, failure_kind)",
        ]),
        ("v11: seed files", [
            """
            CREATE TABLE seed_files (path TEXT PRIMARY KEY, size BIGINT NOT NULL, modified_ns BIGINT NOT NULL,
                sha256 TEXT NOT NULL, parser TEXT NOT NULL, is_seed BOOLEAN NOT NULL, problems TEXT, recorded_ns BIGINT NOT NULL)
            """,
            """
            ALTER TABLE seed_references ADD COLUMN width BIGINT, ADD COLUMN height BIGINT,
                ADD COLUMN declared_cached BOOLEAN, ADD COLUMN in_body BOOLEAN NOT NULL DEFAULT FALSE
            """,
            // The renditions fingerprint of the last sync: text, which SQLite's untyped meta holds as is.
            "ALTER TABLE meta ADD COLUMN text TEXT",
        ]),
        ("v12: focal points", [
            "ALTER TABLE seed_references ADD COLUMN focus_x DOUBLE PRECISION, ADD COLUMN focus_y DOUBLE PRECISION",
        ]),
        // Keyset pages walk in byte order (COLLATE "C", as SQLite's): these B-trees answer them
        // (the primary keys are in the database's collation, which the planner cannot use for C).
        ("v13: paging indexes", [
            "CREATE INDEX sources_url_c ON sources (url COLLATE \"C\")",
            "CREATE INDEX thumbnails_key_c ON thumbnails (key COLLATE \"C\")",
            "CREATE INDEX objects_digest_c ON objects (digest COLLATE \"C\")",
            "CREATE INDEX seed_references_path_c ON seed_references (seed_path COLLATE \"C\", url)",
        ]),
        // A page reads the first references of each URL in seed order (a logo has one per article).
        ("v14: references by url in seed order", [
            "CREATE INDEX seed_references_url_path_c ON seed_references (url, seed_path COLLATE \"C\")",
            "DROP INDEX seed_references_url",
        ]),
        // The dashboard's search (a part of a URL: pg_trgm, a trusted extension, in PostgreSQL's
        // contrib that Debian's package holds) and the filters and orders of its lists.
        ("v15: dashboard search", [
            "CREATE EXTENSION IF NOT EXISTS pg_trgm",
            "CREATE INDEX sources_url_trgm ON sources USING gin (url gin_trgm_ops)",
            "CREATE INDEX sources_status_url_c ON sources (status, url COLLATE \"C\")",
            "DROP INDEX sources_status",
            "CREATE INDEX sources_failed_kind_url_c ON sources ((COALESCE(failure_kind, 'other')), url COLLATE \"C\") WHERE status = 'failed'",
            "CREATE INDEX sources_mismatch_url_c ON sources (url COLLATE \"C\") WHERE \(CacheIndex.mismatch)",
            "CREATE INDEX sources_mismatch_worst_c ON sources ((\(CacheIndex.mismatchRatio)) DESC, url COLLATE \"C\") WHERE \(CacheIndex.mismatch)",
            "CREATE INDEX objects_recent_c ON objects (created_at DESC, digest COLLATE \"C\")",
            "CREATE INDEX objects_format_recent_c ON objects (format, created_at DESC, digest COLLATE \"C\")",
            "CREATE INDEX objects_animated_recent_c ON objects (created_at DESC, digest COLLATE \"C\") WHERE frames > 1",
        ]),
    ]

    /// Applies what is missing, in one transaction under an advisory lock (two processes
    /// opening a new database at once: one migrates, the other then finds it done).
    static func migrate(_ session: PostgresSession) throws {
        try session.query("BEGIN")
        do {
            try session.query("SELECT pg_advisory_xact_lock(\(migrationLockKey))")
            try session.query("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)")
            var applied = Set<String>()
            for row in try session.query("SELECT name FROM schema_migrations") { applied.insert(try row.decode(String.self)) }
            let known = Set(migrations.map(\.name))
            if let unknown = applied.subtracting(known).sorted().first {
                throw CacheError(.database, "the index was migrated by a newer imgcache (\"\(unknown)\"): upgrade this one")
            }
            for migration in migrations where !applied.contains(migration.name) {
                for statement in migration.sql { try session.query(PostgresQuery(unsafeSQL: statement)) }
                try session.query("INSERT INTO schema_migrations (name, applied_at) VALUES (\(migration.name), now())")
            }
            try session.query("COMMIT")
        } catch {
            _ = try? session.query("ROLLBACK")
            throw error
        }
    }

    /// The names of the migrations this version applies, in order.
    public static var migrationNames: [String] { migrations.map(\.name) }

    /// The names of the migrations the database has, in order applied.
    public func appliedMigrations() throws(CacheError) -> [String] {
        try read { session in
            // Migrations applied in one transaction share a time: then in the order they are declared
            // ("v10" sorts before "v2" as text).
            let rows = try session.query("SELECT name, applied_at FROM schema_migrations").map { try $0.decode((String, Date).self) }
            let position = { (name: String) in Self.migrationNames.firstIndex(of: name) ?? Int.max }
            return rows.sorted { ($0.1, position($0.0)) < ($1.1, position($1.0)) }.map(\.0)
        }
    }
}
