import Foundation

/// Damages a SQLite file the way a bad disk or a stray write does.
public enum IndexDamage {
    /// Overwrites 8 KB in the middle of the file (page-aligned) with garbage. Returns the file's size.
    @discardableResult
    public static func garbleMiddle(of path: String) throws -> UInt64 {
        guard let handle = FileHandle(forUpdatingAtPath: path) else { throw CocoaError(.fileNoSuchFile) }
        defer { try? handle.close() }
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: size / 2 / 4096 * 4096)
        handle.write(Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }))
        return size
    }

    /// Overwrites `length` bytes at `offset` of `path` with a pattern no page has.
    public static func garble(_ path: String, at offset: UInt64, length: Int) throws {
        guard let handle = FileHandle(forUpdatingAtPath: path) else { throw CocoaError(.fileNoSuchFile) }
        defer { try? handle.close() }
        try handle.seek(toOffset: offset)
        handle.write(Data((0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }))
    }
}
