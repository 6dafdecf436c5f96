#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// The `Date` header line (RFC 9110 §6.6.1: an origin server with a clock sends one) of the
/// current second in IMF-fixdate, with the blank line that ends a response head after it.
/// Remade once a second: one per connection, so it needs no lock.
struct HTTPDateLine {
    private var second: time_t = -1
    private var line = ByteBuffer()

    /// `Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n` for now.
    mutating func current() -> ByteBuffer {
        let now = time(nil)
        if now != second {
            second = now
            line = ByteBuffer(string: "Date: " + Self.imfFixdate(now) + "\r\n\r\n")
        }
        return line
    }

    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func imfFixdate(_ seconds: time_t) -> String {
        var seconds = seconds
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(1900 + parts.tm_year) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
