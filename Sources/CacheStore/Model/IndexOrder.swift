/// The order of the index's text keys (URLs, seed paths): by their UTF-8 bytes, as SQLite's
/// BINARY collation and PostgreSQL's `COLLATE "C"` sort them. Code that merges with the index's
/// pages or searches a list against them sorts the same way.
public enum IndexOrder {
    public static func precedes(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }
}
