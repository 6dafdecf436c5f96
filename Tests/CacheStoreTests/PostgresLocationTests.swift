@testable import CacheStore
import Foundation
import TestSupport
import Testing

/// The shared index named as libpq names a database, in both of its forms, and never a
/// password in a message.
@Suite("PostgreSQL locations: libpq's URI and keyword forms, [::1], no password shown")
struct PostgresLocationTests {
    @Test("the URI form with the user and password in the authority or in the query, the keyword form, an IPv6 host")
    func forms() throws {
        let expected = PostgresLocation(host: "db.internal", port: 6543, user: "u", password: "p w", database: "cache")
        for text in ["postgres://u:p%20w@db.internal:6543/cache",
                     "postgresql://db.internal:6543/cache?user=u&password=p%20w",
                     "postgresql:///cache?host=db.internal&port=6543&user=u&password=p%20w",
                     "host=db.internal port=6543 dbname=cache user=u password='p w'"] {
            #expect(try PostgresLocation.parse(text, environment: [:]) == expected, "\(text)")
        }
        let v6 = try PostgresLocation.parse("postgres://u@[::1]:5433/cache", environment: [:])
        #expect(v6.host == "::1" && v6.port == 5433)
        #expect(v6.description == "postgres://u@[::1]:5433/cache")
        #expect(try PostgresLocation.parse("host=::1 dbname=cache user=u", environment: ["PGPASSWORD": "env"]).password == "env")
    }

    @Test("a refused location's message names it without its password, whichever form carried it")
    func noPasswordInMessages() {
        for text in ["postgres://u:hunter2@db.internal:6543/", "postgresql://db.internal/?user=u&password=hunter2",
                     "host=db.internal user=u password=hunter2", "host=db.internal user=u password='hunter2 x'",
                     "postgres://u:hunter2@db.internal:99999/cache"] {
            let error = #expect(throws: CacheError.self) { try PostgresLocation.parse(text, environment: [:]) }
            #expect(error.map { !$0.message.contains("hunter2") } == true, "\(String(describing: error))")
        }
    }

    @Test("a real PostgreSQL reached at [::1] by the URI form and at 127.0.0.1 by the keyword form")
    func connects() throws {
        guard let server = PostgresServer.shared else {
            if TestServers.required { Issue.record(Comment(rawValue: PostgresServer.skipReason)) }
            print("skipped: \(PostgresServer.skipReason)")
            return
        }
        let database = String(try server.makeDatabase().split(separator: "/").last ?? "")
        let uri = try PostgresLocation.parse("postgresql://[::1]:\(server.port)/\(database)?user=\(server.user)&password=unused",
                                             environment: [:])
        #expect(try PostgresIndex(uri).totals().objects == 0)
        let keywords = try PostgresLocation.parse("host=127.0.0.1 port=\(server.port) dbname=\(database) user=\(server.user)",
                                                  environment: [:])
        #expect(try PostgresIndex(keywords).totals().objects == 0)
    }
}
