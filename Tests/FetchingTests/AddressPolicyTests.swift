import Fetching
import Foundation
import Testing

@Suite("Address policy (SSRF)")
struct AddressPolicyTests {
    @Test("non-public addresses are refused by default", arguments: [
        "127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "169.254.169.254", "10.0.0.1", "172.16.5.4",
        "172.31.255.255", "192.168.1.1", "100.64.0.1", "100.127.255.255", "0.0.0.0", "::", "fc00::1", "fd12:3456::1",
        "fe80::1", "224.0.0.1", "::ffff:10.0.0.1",
    ])
    func refused(address: String) {
        #expect(AddressPolicy().refusal(for: address) != nil)
    }

    @Test("public addresses pass", arguments: ["93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::6810:84e5", "::ffff:8.8.8.8"])
    func allowed(address: String) {
        #expect(AddressPolicy().refusal(for: address) == nil)
    }

    @Test("an allow option names what it allows")
    func allowOptions() {
        let one = AddressPolicy(allowedAddresses: ["127.0.0.1"])
        #expect(one.refusal(for: "127.0.0.1") == nil)
        #expect(one.refusal(for: "169.254.169.254") != nil)
        #expect(one.refusal(for: "::1") != nil)
        #expect(AddressPolicy(allowAllPrivate: true).refusal(for: "10.1.1.1") == nil)
        #expect(AddressPolicy().refusal(for: "127.0.0.1")?.contains("loopback") == true)
    }

    @Test("freshness from Cache-Control and Expires")
    func freshness() {
        func lifetime(_ headers: [String: String]) -> TimeInterval? {
            FetchResponse(status: 200, body: Data(), headers: headers, effectiveURL: "", attempts: 1).freshnessLifetime()
        }
        #expect(lifetime(["cache-control": "public, max-age=600"]) == 600)
        #expect(lifetime(["cache-control": "no-cache, max-age=600"]) == 0)
        #expect(lifetime(["expires": "Thu, 01 Jan 2026 00:10:00 GMT", "date": "Thu, 01 Jan 2026 00:00:00 GMT"]) == 600)
        #expect(lifetime([:]) == nil)
    }
}
