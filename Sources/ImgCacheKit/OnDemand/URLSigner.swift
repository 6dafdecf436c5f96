import Crypto
import Foundation

/// Signs and checks on-demand variant URLs, in imgproxy's model: the signature is
/// HMAC-SHA256, keyed by a key, over a salt followed by the path after the signature
/// (`/<options>/<sha256>.<ext>`), written in URL-safe base64 without padding (43 characters).
///
/// Keys and salts are lists, paired by position, so a key can be rotated: URLs are signed
/// with the first pair, and a signature made with any pair is accepted. Comparison is
/// constant-time (`HMAC.isValidAuthenticationCode`); a signature of any other length is
/// refused before any HMAC is computed.
public struct URLSigner: Sendable {
    private let pairs: [(key: [UInt8], salt: [UInt8])]

    /// From hex keys and salts (`signingKeys`, `signingSalts`): as many salts as keys.
    public init(keys: [String], salts: [String]) throws(ConfigurationError) {
        guard keys.count == salts.count else {
            throw ConfigurationError("signingKeys and signingSalts pair up: \(keys.count) keys but \(salts.count) salts")
        }
        var pairs: [([UInt8], [UInt8])] = []
        for (n, (key, salt)) in zip(keys, salts).enumerated() {
            guard let keyBytes = Self.hex(key), keyBytes.count >= 16 else {
                throw ConfigurationError("signing key \(n + 1) must be hex, 16 bytes (32 digits) or more")
            }
            guard let saltBytes = Self.hex(salt), !saltBytes.isEmpty else { throw ConfigurationError("signing salt \(n + 1) must be hex") }
            pairs.append((keyBytes, saltBytes))
        }
        self.pairs = pairs
    }

    /// No keys: every signed URL is refused (unsigned widths from the allowlist still work).
    public static let none = URLSigner(pairs: [])
    private init(pairs: [(key: [UInt8], salt: [UInt8])]) { self.pairs = pairs }

    public var canSign: Bool { !pairs.isEmpty }

    /// The signature of `path` (`/<options>/<sha256>.<ext>`) with the first key, or nil with none.
    public func signature(of path: some StringProtocol) -> String? {
        guard let first = pairs.first else { return nil }
        return Self.base64URL(Data(HMAC<SHA256>.authenticationCode(for: first.salt + Array(path.utf8), using: SymmetricKey(data: first.key))))
    }

    /// Whether `signature` is `path`'s with one of the keys (compared in constant time).
    public func isValid(_ signature: some StringProtocol, for path: some StringProtocol) -> Bool {
        guard signature.utf8.count == 43, let mac = Self.fromBase64URL(String(signature)), mac.count == 32 else { return false }
        let message = Array(path.utf8)
        var valid = false
        // Every pair is tried (no early exit): the time does not tell which key matched.
        for pair in pairs {
            if HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: pair.salt + message, using: SymmetricKey(data: pair.key)) { valid = true }
        }
        return valid
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Whether every character of `text` is one of URL-safe base64's (`A-Z a-z 0-9 - _`).
    public static func isBase64URL(_ text: some StringProtocol) -> Bool {
        text.utf8.allSatisfy { $0 == 45 || $0 == 95 || (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) }
    }

    static func fromBase64URL(_ text: String) -> Data? {
        guard isBase64URL(text) else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.utf8.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }

    static func hex(_ text: String) -> [UInt8]? {
        let digits = Array(text.trimmingCharacters(in: .whitespaces).utf8)
        guard !digits.isEmpty, digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let high = nibble(digits[i]), let low = nibble(digits[i + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 97...102: c - 87
        case 65...70: c - 55
        default: nil
        }
    }
}
