import Foundation
import ImageCore
@testable import ImgCacheKit
import Testing

@Suite("On-demand variant options and URL signatures")
struct VariantOptionsTests {
    static let key = "943b421c9eb07c830af81030552c86009268de4e532ba2ee2eab8247c6da0881"
    static let salt = "520f986b998545b4785e0defbc4f3c1203f22de2374a3d53cb7a7fe9fea309c5"
    static let newKey = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
    static let newSalt = "a1b2c3d4e5f6a7b8"
    static let path = "/w:480,fit:cover/\(String(repeating: "ab", count: 32)).webp"

    @Test("options parse, and one variant has one canonical text: dpr folded in, defaults and no-ops left out, a fixed order")
    func canonical() throws {
        let options = try VariantOptions(parsing: "q:80,fit:cover,h:160,w:240,dpr:2,g:attention")
        #expect(options.width == 240 && options.height == 160 && options.fit == .cover && options.gravity == .attention && options.dpr == 2)
        #expect(options.canonical(defaultQuality: 75).description == "w:480,h:320,fit:cover,g:attention,q:80")
        #expect(options.canonical(defaultQuality: 80).description == "w:480,h:320,fit:cover,g:attention")
        // One side: every fit is contain, and a gravity crops nothing.
        #expect(try VariantOptions(parsing: "w:300,fit:cover,g:entropy").canonical(defaultQuality: nil).description == "w:300")
        // Gravity only for cover; a focal point to three decimals; contain is the default.
        #expect(try VariantOptions(parsing: "w:3,h:4,fit:contain,g:attention").canonical(defaultQuality: nil).description == "w:3,h:4")
        #expect(try VariantOptions(parsing: "w:3,h:4,fit:cover,g:fp:0.33333:1").canonical(defaultQuality: nil).description
                    == "w:3,h:4,fit:cover,g:fp:0.333:1")
        #expect(try VariantOptions(parsing: "h:90,w:120,fit:fill").canonical(defaultQuality: nil).description == "w:120,h:90,fit:fill")
        // What the canonical text parses to is itself canonical.
        let text = "w:480,h:320,fit:cover,g:fp:0.3:0.6,q:70"
        #expect(try VariantOptions(parsing: text).canonical(defaultQuality: 75).description == text)
    }

    @Test("a bad option names itself and the reason", arguments: [
        ("", "empty"), ("w:0", "w must be"), ("w:16385", "w must be"), ("w:1e3", "w must be"), ("h:-4", "h must be"),
        ("w:10,w:20", "twice"), ("fit:cover", "w or h is required"), ("w:10,fit:squash", "fit must be"),
        ("w:10,q:0", "q must be"), ("w:10,q:101", "q must be"), ("w:10,dpr:0.5", "dpr must be"), ("w:10,dpr:nan", "dpr must be"),
        ("w:10,g:fp:1.5:0", "g must be"), ("w:10,g:north", "g must be"), ("w:10,x:1", "unknown option 'x'"), ("w10", "not name:value"),
    ])
    func refused(text: String, reason: String) {
        #expect(throws: VariantOptionsError.self) { try VariantOptions(parsing: text) }
        do {
            _ = try VariantOptions(parsing: text)
        } catch {
            #expect(error.description.contains(reason), "\(text): \(error)")
        }
    }

    @Test("a signature made with the current key or the previous one is accepted (compared in constant time by HMAC.isValidAuthenticationCode)")
    func rotation() throws {
        let old = try URLSigner(keys: [Self.key], salts: [Self.salt])
        let rotated = try URLSigner(keys: [Self.newKey, Self.key], salts: [Self.newSalt, Self.salt])
        let oldSignature = try #require(old.signature(of: Self.path))
        let newSignature = try #require(rotated.signature(of: Self.path))
        #expect(oldSignature.count == 43 && newSignature != oldSignature)
        #expect(rotated.isValid(oldSignature, for: Self.path), "a URL signed before the rotation still works")
        #expect(rotated.isValid(newSignature, for: Self.path))
        #expect(!old.isValid(newSignature, for: Self.path), "the old key alone does not know the new one")
        // imgproxy's signature, as its docs compute it in Python: HMAC-SHA256(key, salt || path),
        // URL-safe base64 without padding (python3 -c "hmac.new(key, salt + path, sha256)…").
        #expect(oldSignature == "gV7oUVe_95C_T0sk-R2kS5mOvvIGjBByMAj8BcmPQlw")
    }

    @Test("refused: a changed option, a truncated or padded signature, a wrong salt, another path, no keys")
    func refusedSignatures() throws {
        let signer = try URLSigner(keys: [Self.key], salts: [Self.salt])
        let signature = try #require(signer.signature(of: Self.path))
        #expect(!signer.isValid(signature, for: Self.path.replacingOccurrences(of: "w:480", with: "w:481")))
        #expect(!signer.isValid(signature.dropLast(), for: Self.path))
        #expect(!signer.isValid(signature + "A", for: Self.path))
        #expect(!signer.isValid(String(signature.prefix(20)), for: Self.path))
        #expect(!signer.isValid(signature + "=", for: Self.path))
        let otherSalt = try URLSigner(keys: [Self.key], salts: [Self.newSalt])
        #expect(!otherSalt.isValid(signature, for: Self.path))
        #expect(!signer.isValid(signature, for: Self.path.replacingOccurrences(of: ".webp", with: ".jpg")))
        #expect(!URLSigner.none.isValid(signature, for: Self.path) && URLSigner.none.signature(of: Self.path) == nil)
    }

    @Test("keys and salts are hex and pair up; the configuration says so when loaded")
    func configuration() throws {
        #expect(throws: ConfigurationError.self) { try URLSigner(keys: [Self.key], salts: []) }
        #expect(throws: ConfigurationError.self) { try URLSigner(keys: ["zz"], salts: ["aa"]) }
        #expect(throws: ConfigurationError.self) { try URLSigner(keys: ["abcd"], salts: ["aa"]) }  // 2 bytes: too short
        let loaded = try Configuration.load(path: nil, environment: ["IMGCACHE_SIGNING_KEYS": "\(Self.newKey),\(Self.key)",
                                                                     "IMGCACHE_SIGNING_SALTS": "\(Self.newSalt), \(Self.salt)"])
        #expect(loaded.onDemand.signingKeys == [Self.newKey, Self.key] && loaded.onDemand.signingSalts == [Self.newSalt, Self.salt])
        #expect(throws: ConfigurationError.self) {
            try Configuration.load(path: nil, environment: ["IMGCACHE_SIGNING_KEYS": Self.key])
        }
    }

    @Test("imgcache's URLs: signed with the first key, `_` only for a bare allowed width; srcset lists widths up to the image's")
    func urls() throws {
        var settings = OnDemandSettings()
        settings.widths = [200]
        settings.srcsetWidths = [200, 400, 800]
        let digest = String(repeating: "cd", count: 32)
        let unsigned = try VariantURLs(settings)
        #expect(unsigned.path(digest: digest, options: VariantOptions(width: 100, dpr: 2), ext: "jpg") == "/v/_/w:200/\(digest).jpg")
        #expect(unsigned.path(digest: digest, options: VariantOptions(width: 400), ext: "jpg") == nil)
        #expect(unsigned.srcsets(digest: digest, width: 500, original: .jpeg).map(\.srcset) == ["/v/_/w:200/\(digest).webp 200w", "/v/_/w:200/\(digest).jpg 200w"])
        settings.signingKeys = [Self.key]
        settings.signingSalts = [Self.salt]
        let signed = try VariantURLs(settings, base: "https://img.example.com/")
        let sets = signed.srcsets(digest: digest, width: 500, original: .png)
        #expect(sets.map(\.type) == ["image/webp", "image/png"])
        let items = sets[1].srcset.components(separatedBy: ", ")
        #expect(items.count == 2 && items[0].hasPrefix("https://img.example.com/v/") && items[1].hasSuffix("/w:400/\(digest).png 400w"))
        let signer = try settings.signer()
        let url = try #require(signed.path(digest: digest, options: VariantOptions(width: 640, height: 480, fit: .cover), ext: "webp"))
        let parts = url.split(separator: "/")
        #expect(signer.isValid(parts[1], for: "/\(parts[2])/\(parts[3])"))
    }
}
