import Foundation
import ImageCore

/// The options of an on-demand variant, as one short path segment of its URL:
/// `w:480,h:320,fit:cover,g:attention,q:80,dpr:2`.
///
/// | option | values | default |
/// |---|---|---|
/// | `w`, `h` | pixels, 1…16384 (at least one of them) | the other follows the aspect ratio |
/// | `fit` | `contain` (inside the box), `cover` (fill it, crop the rest), `fill` (stretch) | `contain` |
/// | `g` | `center`, `attention`, `entropy`, `fp:<x>:<y>` (fractions 0…1) — for `cover` | `center` |
/// | `q` | 1…100 | the format's |
/// | `dpr` | 1…`onDemand.maxDPR`, multiplies `w` and `h` | 1 |
///
/// One variant has one canonical text (`canonical(defaultQuality:)`): `dpr` folded into `w`
/// and `h`, defaults and options that change nothing left out, the order above.
public struct VariantOptions: Hashable, Sendable, CustomStringConvertible {
    public var width: Int?
    public var height: Int?
    public var fit: FitMode = .inside
    public var gravity: Gravity = .center
    public var quality: Int?
    public var dpr: Double = 1

    public static let maxSide = 16_384
    /// The box's other side when only one is given (never reached: a thumbnail is never upscaled).
    static let unbounded = 1 << 20

    public init(width: Int? = nil, height: Int? = nil, fit: FitMode = .inside, gravity: Gravity = .center,
                quality: Int? = nil, dpr: Double = 1) {
        self.width = width
        self.height = height
        self.fit = fit
        self.gravity = gravity
        self.quality = quality
        self.dpr = dpr
    }

    /// Parses a segment; the error names the option and what is wrong with it.
    public init(parsing text: some StringProtocol) throws(VariantOptionsError) {
        let segment = Substring(text)
        guard !segment.isEmpty, segment.utf8.count <= 120 else { throw VariantOptionsError("the options are empty or too long") }
        var seen: Set<Substring> = []
        for item in segment.split(separator: ",", omittingEmptySubsequences: false) {
            guard let colon = item.firstIndex(of: ":") else { throw VariantOptionsError("'\(item)' is not name:value") }
            let name = item[..<colon], value = item[item.index(after: colon)...]
            guard seen.insert(name).inserted else { throw VariantOptionsError("'\(name)' is given twice") }
            try apply(name: name, value: value)
        }
        guard width != nil || height != nil else { throw VariantOptionsError("w or h is required") }
    }

    private mutating func apply(name: Substring, value: Substring) throws(VariantOptionsError) {
        switch name {
        case "w": width = try Self.side(value, "w")
        case "h": height = try Self.side(value, "h")
        case "fit":
            switch value {
            case "contain", "inside": fit = .inside
            case "cover": fit = .cover
            case "fill": fit = .fill
            default: throw VariantOptionsError("fit must be contain, cover or fill, not '\(value)'")
            }
        case "g": gravity = try Self.gravity(value)
        case "q":
            guard let q = Int(value), (1...100).contains(q) else { throw VariantOptionsError("q must be 1 to 100, not '\(value)'") }
            quality = q
        case "dpr":
            guard let d = Double(value), d.isFinite, d >= 1, d <= 10 else { throw VariantOptionsError("dpr must be a number from 1 to 10, not '\(value)'") }
            dpr = d
        default:
            throw VariantOptionsError("unknown option '\(name)' (w, h, fit, g, q, dpr)")
        }
    }

    private static func side(_ value: Substring, _ name: String) throws(VariantOptionsError) -> Int {
        guard value.utf8.allSatisfy({ (48...57).contains($0) }), let n = Int(value), (1...maxSide).contains(n) else {
            throw VariantOptionsError("\(name) must be a whole number of pixels from 1 to \(maxSide), not '\(value)'")
        }
        return n
    }

    private static func gravity(_ value: Substring) throws(VariantOptionsError) -> Gravity {
        switch value {
        case "center", "centre": return .center
        case "attention", "sm": return .attention
        case "entropy": return .entropy
        default:
            let parts = value.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0] == "fp", let x = Double(parts[1]), let y = Double(parts[2]),
                  (0...1).contains(x), (0...1).contains(y) else {
                throw VariantOptionsError("g must be center, attention, entropy or fp:<x>:<y> with x and y from 0 to 1, not '\(value)'")
            }
            return .focus(x: x, y: y)
        }
    }

    /// The same variant in its one canonical form: `dpr` folded into the sides, `fit` and `g`
    /// only where they change the result, `q` only when it is not `defaultQuality`, a focal
    /// point to three decimals.
    public func canonical(defaultQuality: Int?) -> VariantOptions {
        var result = VariantOptions()
        result.width = width.map { min(Self.maxSide, max(1, Int((Double($0) * dpr).rounded()))) }
        result.height = height.map { min(Self.maxSide, max(1, Int((Double($0) * dpr).rounded()))) }
        // With one side given, every fit is `contain`.
        result.fit = result.width != nil && result.height != nil ? fit : .inside
        if result.fit == .cover {
            if case .focus(let x, let y) = gravity {
                result.gravity = .focus(x: (x * 1000).rounded() / 1000, y: (y * 1000).rounded() / 1000)
            } else {
                result.gravity = gravity
            }
        }
        result.quality = quality == defaultQuality ? nil : quality
        return result
    }

    /// The spec a thumbnail is made with.
    public var spec: ThumbnailSpec {
        ThumbnailSpec(box: Size(width: width ?? Self.unbounded, height: height ?? Self.unbounded), fit: fit, gravity: gravity)
    }

    /// The options as the URL writes them.
    public var description: String {
        var items: [String] = []
        if let width { items.append("w:\(width)") }
        if let height { items.append("h:\(height)") }
        switch fit {
        case .inside: break
        case .cover: items.append("fit:cover")
        case .fill: items.append("fit:fill")
        }
        if gravity != .center { items.append("g:" + Self.text(gravity)) }
        if let quality { items.append("q:\(quality)") }
        if dpr != 1 { items.append("dpr:\(Self.decimal(dpr))") }
        return items.joined(separator: ",")
    }

    /// A gravity as `g:` writes it: `center`, `attention`, `entropy`, `fp:0.3:0.6`.
    public static func text(_ gravity: Gravity) -> String {
        switch gravity {
        case .center: "center"
        case .attention: "attention"
        case .entropy: "entropy"
        case .focus(let x, let y): "fp:\(decimal(x)):\(decimal(y))"
        }
    }

    /// A number with at most three decimals and no trailing zeros ("0.3", "1", "0.125").
    public static func decimal(_ value: Double) -> String {
        var text = String(format: "%.3f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }
}

/// Why a variant's options were refused.
public struct VariantOptionsError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
