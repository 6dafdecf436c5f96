import Fetching
import Foundation
import Testing

@Suite("Address policy (SSRF)")
struct AddressPolicyTests {
    @Test("non-public addresses are refused by default", arguments: [
        "127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "169.254.169.254", "10.0.0.1", "172.16.5.4",
        "172.31.255.255", "192.168.1.1", "100.64.0.1", "100.127.255.255", "0.0.0.0", "::", "fc00::1", "fd12:3456::1",
        "fe80::1", "224.0.0.1", "::ffff:10.0.0.1",
        // IPv4 inside IPv6: IPv4-compatible, NAT64 (well-known and local-use prefixes), 6to4.
        "::127.0.0.1", "::169.254.169.254", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::10.1.2.3",
        "64:ff9b:1::808:808", "2002:7f00:1::1", "2002:c0a8:101::1", "192.0.0.8", "198.18.0.1",
    ])
    func refused(address: String) {
        #expect(AddressPolicy().refusal(for: address) != nil)
    }

    @Test("public addresses pass", arguments: ["93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::6810:84e5", "::ffff:8.8.8.8",
                                           "64:ff9b::808:808", "2002:808:808::1"])
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

    @Test("URLs on the wire: IDN hosts in punycode; control characters refused; the rest as given")
    func transferURLs() throws {
        let idn = try TransferURL.parse("https://bücher.example/a.jpg").get()
        #expect(idn.text == "https://xn--bcher-kva.example/a.jpg" && idn.host == "xn--bcher-kva.example")
        #expect(try TransferURL.parse("https://例え.テスト/x.png?w=1").get().text == "https://xn--r8jz45g.xn--zckzah/x.png?w=1")
        #expect(try TransferURL.parse("https://xn--bcher-kva.example/a.jpg").get().text == "https://xn--bcher-kva.example/a.jpg")
        let plain = try TransferURL.parse("http://A.Example:8080/p").get()
        #expect(plain.text == "http://A.Example:8080/p" && plain.host == "a.example")
        for bad in ["https://a.example/x\u{0}y.jpg", "https://a.example/x\r\nSet-Cookie: a=b", "https://a.example/\u{7F}"] {
            #expect(TransferURL.problem(bad)?.contains("control character") == true, "\(bad.debugDescription)")
        }
        #expect(TransferURL.problem("ftp://a.example/x") != nil && TransferURL.problem("https:///x") != nil)
    }
}
