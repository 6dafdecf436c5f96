import CacheStore
import Foundation

/// How the dashboard writes numbers, sizes and times.
enum DashboardFormat {
    static func bytes(_ count: Int) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = Double(count), unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: value < 10 ? "%.1f %@" : "%.0f %@", value, units[unit])
    }

    /// "1 URL", "2,000 URLs".
    static func urls(_ count: Int) -> String { number(count) + (count == 1 ? " URL" : " URLs") }

    static func number(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var grouped = ""
        for (i, digit) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { grouped.append(",") }
            grouped.append(digit)
        }
        return (value < 0 ? "-" : "") + grouped
    }

    static func date(_ date: Date?) -> String {
        guard let date else { return "never" }
        // 2026-12-04T08:55:37Z -> 2026-12-04 08:55:37 UTC
        return date.ISO8601Format().replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: " UTC")
    }

    /// A CSS colour the page may put in a style attribute: "#rrggbb" and nothing else.
    static func color(_ text: String?) -> String {
        guard let text, text.utf8.count == 7, text.first == "#",
              text.utf8.dropFirst().allSatisfy({ (48...57).contains($0) || (97...102).contains($0) || (65...70).contains($0) })
        else { return "#d8d8d8" }
        return text
    }

    /// `url` as a link target when it is absolute http(s); nil otherwise (shown as text only:
    /// a `javascript:` URL from a seed must never become a link).
    static func link(_ url: String) -> String? { SeedURL.isFetchable(url) ? url : nil }

    /// "posts/a.md:12" for each place, at most `limit`, and how many more.
    /// The first places a URL is named at, and how many more there are.
    static func seeds(_ locations: SeedLocations?) -> [String] {
        guard let locations else { return [] }
        var lines = locations.first.map { location in location.line.map { "\(location.path):\($0)" } ?? location.path }
        if locations.total > lines.count { lines.append("and \(number(locations.total - lines.count)) more") }
        return lines
    }
}
