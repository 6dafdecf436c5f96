import Foundation

/// Which IP addresses a download may connect to. By default only public unicast addresses:
/// loopback, private (RFC 1918), link-local (cloud metadata at 169.254.169.254), CGNAT
/// (100.64/10), unspecified, multicast and IPv6 unique-local are refused, including as
/// IPv4-mapped IPv6. Checked when the connection is made, so redirects and DNS answers are covered.
public struct AddressPolicy: Hashable, Sendable {
    /// Allow every non-public address (`--allow-private`).
    public var allowAllPrivate: Bool
    /// Non-public addresses allowed one by one ("127.0.0.1", "::1", "10.1.2.3").
    public var allowedAddresses: Set<String>

    public init(allowAllPrivate: Bool = false, allowedAddresses: Set<String> = []) {
        self.allowAllPrivate = allowAllPrivate
        self.allowedAddresses = allowedAddresses
    }

    /// Nil when `address` may be used, else the reason.
    public func refusal(for address: String) -> String? {
        if allowAllPrivate || allowedAddresses.contains(address) { return nil }
        guard let range = Self.specialRange(of: address) else { return nil }
        return "\(address) is a \(range) address"
    }

    /// The kind of non-public range `address` is in, or nil for a public address.
    public static func specialRange(of address: String) -> String? {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 {
            let b = withUnsafeBytes(of: v4.s_addr) { Array($0) }
            return ipv4Range(b)
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, address, &v6) == 1 else { return "unparseable" }
        let b = withUnsafeBytes(of: v6) { Array($0) }
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF {
            return ipv4Range(Array(b[12..<16])).map { "IPv4-mapped \($0)" }
        }
        if b.allSatisfy({ $0 == 0 }) { return "unspecified" }
        if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return "loopback" }
        // Forms that carry an IPv4 address: checked like the address itself.
        if b[0..<12].allSatisfy({ $0 == 0 }) {  // ::/96, IPv4-compatible (deprecated)
            return ipv4Range(Array(b[12..<16])).map { "IPv4-compatible \($0)" }
        }
        if b[0..<12] == [0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0][...] {  // 64:ff9b::/96, NAT64 (RFC 6052)
            return ipv4Range(Array(b[12..<16])).map { "NAT64 \($0)" }
        }
        if b[0..<6] == [0x00, 0x64, 0xFF, 0x9B, 0x00, 0x01][...] {  // 64:ff9b:1::/48, local-use NAT64 (RFC 8215)
            return "local-use NAT64"
        }
        if b[0] == 0x20 && b[1] == 0x02 {  // 2002::/16, 6to4: the IPv4 address follows the prefix
            return ipv4Range(Array(b[2..<6])).map { "6to4 \($0)" }
        }
        if b[0] & 0xFE == 0xFC { return "unique-local" }
        if b[0] == 0xFE && b[1] & 0xC0 == 0x80 { return "link-local" }
        if b[0] == 0xFF { return "multicast" }
        return nil
    }

    private static func ipv4Range(_ b: [UInt8]) -> String? {
        switch (b[0], b[1]) {
        case (0, _): return "unspecified"
        case (10, _): return "private"
        case (127, _): return "loopback"
        case (169, 254): return "link-local"
        case (172, 16...31): return "private"
        case (192, 168): return "private"
        case (100, 64...127): return "CGNAT"
        case (192, 0) where b[2] == 0: return "IETF protocol assignment"
        case (198, 18...19): return "benchmarking"
        case (224...255, _): return "multicast or reserved"
        default: return nil
        }
    }
}

/// Host name allow and block lists.
enum HostPolicy {
    static func matches(_ host: String, _ pattern: String) -> Bool {
        let host = host.lowercased(), pattern = pattern.lowercased()
        return host == pattern || host.hasSuffix("." + pattern)
    }

    static func refusal(host: String, configuration: FetchConfiguration) -> String? {
        if configuration.blockedHosts.contains(where: { matches(host, $0) }) { return "\(host) is a blocked host" }
        if !configuration.allowedHosts.isEmpty && !configuration.allowedHosts.contains(where: { matches(host, $0) }) {
            return "\(host) is not an allowed host"
        }
        return nil
    }
}
