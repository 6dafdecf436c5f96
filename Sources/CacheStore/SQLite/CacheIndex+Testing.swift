import Foundation
import GRDB

/// What tests need of the SQLite index beyond its public transactions: a named method each,
/// so the SQL stays here and the writer stays private. Reached as `index.testing` with
/// `@_spi(Testing) import CacheStore`; not part of the API commands use.
@_spi(Testing) public struct CacheIndexTesting {
    let index: CacheIndex

    public enum Table: String, CaseIterable, Sendable {
        case objects, thumbnails, sources, seedReferences = "seed_references", access, meta
    }

    // MARK: Reading

    public func count(_ table: Table) throws(CacheError) -> Int {
        try index.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table.rawValue)") ?? 0 }
    }

    public func objects() throws(CacheError) -> [ObjectRecord] { try index.read { db in try ObjectRecord.fetchAll(db) } }

    /// Rows of the planner's statistics (`sqlite_stat1`, made by ANALYZE); 0 before any.
    public func plannerStatisticsRows() throws(CacheError) -> Int {
        try index.read { db in
            guard try db.tableExists("sqlite_stat1") else { return 0 }
            return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sqlite_stat1") ?? 0
        }
    }

    /// Where a table's B-tree starts in the file: its root page's byte offset and the page size
    /// (a test that damages the table garbles that page).
    public func rootPageOffset(of table: String) throws(CacheError) -> (offset: UInt64, size: Int) {
        try index.read { db in
            let root = try Int.fetchOne(db, sql: "SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = ?", arguments: [table]) ?? 1
            let size = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
            return (UInt64((root - 1) * size), size)
        }
    }

    /// SQLite's own integrity check: "ok" for a sound file.
    public func integrityCheck() throws(CacheError) -> String? {
        try index.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") }
    }

    /// Originals no URL points at.
    public func unreferencedObjects() throws(CacheError) -> [String] {
        try index.read { db in
            try String.fetchAll(db, sql: "SELECT digest FROM objects WHERE digest NOT IN (SELECT digest FROM sources WHERE digest IS NOT NULL)")
        }
    }

    /// Bytes recorded for originals and for thumbnails.
    public func recordedBytes() throws(CacheError) -> (objects: Int, thumbnails: Int) {
        try index.read { db in
            (try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(bytes), 0) FROM objects") ?? 0,
             try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(bytes), 0) FROM thumbnails") ?? 0)
        }
    }

    /// Each original's bytes, largest first.
    public func objectSizesDescending() throws(CacheError) -> [Int] {
        try index.read { db in try Int.fetchAll(db, sql: "SELECT bytes FROM objects ORDER BY bytes DESC") }
    }

    /// An image's bytes: its original and its thumbnails.
    public func imageBytes(_ digest: String) throws(CacheError) -> Int? {
        try index.read { db in
            try Int.fetchOne(db, sql: "SELECT bytes + (SELECT COALESCE(SUM(bytes), 0) FROM thumbnails WHERE digest = ?) FROM objects WHERE digest = ?",
                             arguments: [digest, digest])
        }
    }

    /// Every row of every table as text, for before/after comparisons.
    public func rows() throws(CacheError) -> [String] {
        try index.read { db in
            try Table.allCases.flatMap { table in try Row.fetchAll(db, sql: "SELECT * FROM \(table.rawValue)").map { "\(table.rawValue) \($0)" } }
        }
    }

    public func metaDate(_ key: String) throws(CacheError) -> Date? { try index.read { db in try CacheIndex.date(db, key) } }

    public func counter(_ key: String) throws(CacheError) -> Int { try index.read { db in try CacheIndex.counter(db, key) } }

    public func lastAccess(_ digest: String) throws(CacheError) -> Date? {
        try index.read { db in try Date.fetchOne(db, sql: "SELECT last_access FROM access WHERE digest = ?", arguments: [digest]) }
    }

    // MARK: Writing what a test sets up

    /// Rows as a sync would have written them (the files are the test's to write).
    public func insert(objects: [ObjectRecord] = [], sources: [SourceRecord] = [], thumbnails: [ThumbnailRecord] = []) throws(CacheError) {
        try index.write { db in
            for object in objects { try object.insert(db) }
            for source in sources { try source.insert(db) }
            for thumbnail in thumbnails { try thumbnail.insert(db) }
        }
    }

    /// `count` pending URLs with long names: enough rows that the file has pages in its middle.
    public func addFillerSources(_ count: Int) throws(CacheError) {
        try index.write { db in
            for n in 0..<count {
                try db.execute(sql: "INSERT INTO sources (url, status, is_cached, updated_at) VALUES (?, 'pending', 0, ?)",
                               arguments: ["https://filler.example/\(n)/" + String(repeating: "x", count: 200), Date()])
            }
        }
    }

    /// Moves everything from the WAL into the main file (so damage to the file is seen).
    public func checkpoint() throws(CacheError) {
        do {
            try index.database.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        } catch {
            throw CacheError.database("checkpoint", error)
        }
    }

    public func setLastAccess(_ digest: String, _ date: Date) throws(CacheError) {
        try index.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO access (digest, last_access) VALUES (?, ?)", arguments: [digest, date])
        }
    }

    public func addToCounter(_ key: String, _ amount: Int) throws(CacheError) {
        try index.write { db in try CacheIndex.addToCounter(db, key, amount) }
    }

    /// An original as recorded before colour profiles were (index v7), without one of its thumbnails.
    public func forgetProfile(_ digest: String, andThumbnail key: String) throws(CacheError) {
        try index.write { db in
            try db.execute(sql: "UPDATE objects SET color_profile = NULL WHERE digest = ?", arguments: [digest])
            _ = try ThumbnailRecord.deleteOne(db, key: key)
            // As every removal does: a URL missing a rendition is not cached.
            try db.execute(sql: "UPDATE sources SET is_cached = 0 WHERE digest = ?", arguments: [digest])
        }
    }

    /// Makes every URL look as if no sync had referenced or written it since `date`.
    public func age(before date: Date) throws(CacheError) {
        try index.write { db in
            try db.execute(sql: "UPDATE sources SET referenced_at = ?, updated_at = ?", arguments: [date, date])
        }
    }

    public func setDeclaredSize(_ url: String, width: Int, height: Int) throws(CacheError) {
        try index.write { db in
            try db.execute(sql: "UPDATE sources SET declared_width = ?, declared_height = ? WHERE url = ?", arguments: [width, height, url])
        }
    }

    /// The tables gone under an open index (another process replaced the file): every read fails.
    public func dropTables() throws(CacheError) {
        try index.write(bumpingGeneration: false) { db in
            for table in ["thumbnails", "access", "seed_references", "sources", "objects"] { try db.execute(sql: "DROP TABLE \(table)") }
        }
    }
}

@_spi(Testing) extension CacheIndex {
    public var testing: CacheIndexTesting { CacheIndexTesting(index: self) }
}

@_spi(Testing) extension IndexStorage {
    /// The SQLite index's test support (fails for another backend).
    public var testing: CacheIndexTesting { (self as! CacheIndex).testing }
}
