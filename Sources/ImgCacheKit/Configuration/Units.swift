import Foundation

/// "90s", "30m", "24h", "7d", or plain seconds.
public enum DurationText {
    public static func parse(_ text: String) -> TimeInterval? {
        let text = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [Character: TimeInterval] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800]
        if let last = text.last, let unit = units[last], let value = Double(text.dropLast()), value >= 0 { return value * unit }
        if let value = Double(text), value >= 0 { return value }
        return nil
    }
}

/// Byte sizes as people write them: `500MB` (decimal), `2GiB` (binary), `1.5G` (a bare letter
/// is binary, as in `du -h`), or a plain number of bytes.
public enum ByteSizeText {
    public static func parse(_ text: String) -> Int? {
        let text = text.trimmingCharacters(in: .whitespaces).lowercased()
        let (ki, mi, gi, ti) = (1024.0, 1024.0 * 1024, 1024.0 * 1024 * 1024, 1024.0 * 1024 * 1024 * 1024)
        let units: [(String, Double)] = [
            ("kib", ki), ("mib", mi), ("gib", gi), ("tib", ti),
            ("kb", 1e3), ("mb", 1e6), ("gb", 1e9), ("tb", 1e12),
            ("k", ki), ("m", mi), ("g", gi), ("t", ti), ("b", 1),
        ]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let value = Double(text.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), value >= 0,
                  value * scale < Double(Int.max) else { return nil }
            return Int((value * scale).rounded())
        }
        guard let value = Int(text), value >= 0 else { return nil }
        return value
    }
}

