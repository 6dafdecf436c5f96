#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a page shows before the image arrives: a BlurHash string and the dominant colour.
public struct Placeholder: Hashable, Sendable, Codable {
    /// BlurHash (4x3 components by default), https://blurha.sh
    public var blurHash: String
    /// The most common colour, as "#rrggbb".
    public var dominantColor: String

    public init(blurHash: String, dominantColor: String) {
        self.blurHash = blurHash
        self.dominantColor = dominantColor
    }

    /// Computes both from an upright bitmap (a thumbnail), shrunk to at most 32x32 first:
    /// a placeholder needs no more detail, and the cost stays tiny.
    public static func compute(from bitmap: Bitmap, xComponents: Int = 4, yComponents: Int = 3) -> Placeholder {
        let scale = min(1, 32 / Double(max(bitmap.width, bitmap.height)))
        let small = scale < 1
            ? Resampler.resample(bitmap, to: Size(width: max(1, Int((Double(bitmap.width) * scale).rounded())),
                                                  height: max(1, Int((Double(bitmap.height) * scale).rounded()))))
            : bitmap
        let rgb = small.rgbOverWhite()
        return Placeholder(blurHash: BlurHash.encode(rgb, width: small.width, height: small.height,
                                                     xComponents: xComponents, yComponents: yComponents),
                           dominantColor: dominantColor(rgb, alpha: small.alphaSamples()))
    }

    /// The mean colour of the most populated bucket of a 16-level-per-channel histogram,
    /// ignoring mostly transparent pixels.
    static func dominantColor(_ rgb: [UInt8], alpha: [UInt8]?) -> String {
        var counts = [Int](repeating: 0, count: 4096)
        var sums = [SIMD3<Int>](repeating: .zero, count: 4096)
        for pixel in 0..<(rgb.count / 3) {
            if let alpha, alpha[pixel] < 128 { continue }
            let r = Int(rgb[3 * pixel]), g = Int(rgb[3 * pixel + 1]), b = Int(rgb[3 * pixel + 2])
            let bucket = (r >> 4) << 8 | (g >> 4) << 4 | b >> 4
            counts[bucket] += 1
            sums[bucket] &+= SIMD3(r, g, b)
        }
        guard let best = counts.indices.max(by: { counts[$0] < counts[$1] }), counts[best] > 0 else { return "#ffffff" }
        let mean = sums[best] / SIMD3(repeating: counts[best])
        return "#" + [mean.x, mean.y, mean.z].map { value in
            let text = String(value, radix: 16)
            return text.count == 1 ? "0" + text : text
        }.joined()
    }
}

/// The BlurHash encoder (Wolt's algorithm: a few DCT components of the linear-light image,
/// quantised into base 83).
public enum BlurHash {
    static let characters = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~")

    /// `rgb` holds `width * height` 8-bit sRGB triples.
    public static func encode(_ rgb: [UInt8], width: Int, height: Int, xComponents: Int = 4, yComponents: Int = 3) -> String {
        precondition((1...9).contains(xComponents) && (1...9).contains(yComponents), "1...9 components")
        precondition(rgb.count == width * height * 3 && width > 0 && height > 0, "rgb does not match the size")
        let linear = (0...255).map { sRGBToLinear($0) }
        var factors: [SIMD3<Double>] = []
        for j in 0..<yComponents {
            for i in 0..<xComponents {
                let normalisation: Double = (i == 0 && j == 0) ? 1 : 2
                var sum = SIMD3<Double>.zero
                for y in 0..<height {
                    let cy = cos(Double.pi * Double(j) * Double(y) / Double(height))
                    for x in 0..<width {
                        let basis = cos(Double.pi * Double(i) * Double(x) / Double(width)) * cy
                        let p = 3 * (y * width + x)
                        sum += basis * SIMD3(linear[Int(rgb[p])], linear[Int(rgb[p + 1])], linear[Int(rgb[p + 2])])
                    }
                }
                factors.append(sum * (normalisation / Double(width * height)))
            }
        }
        let dc = factors[0], ac = factors.dropFirst()
        var hash = base83((xComponents - 1) + (yComponents - 1) * 9, length: 1)
        let maximumValue: Double
        if ac.isEmpty {
            maximumValue = 1
            hash += base83(0, length: 1)
        } else {
            let actualMaximum = ac.map { max(abs($0.x), abs($0.y), abs($0.z)) }.max() ?? 0
            let quantised = Int(max(0, min(82, (actualMaximum * 166 - 0.5).rounded(.down))))
            maximumValue = Double(quantised + 1) / 166
            hash += base83(quantised, length: 1)
        }
        hash += base83(linearToSRGB(dc.x) << 16 | linearToSRGB(dc.y) << 8 | linearToSRGB(dc.z), length: 4)
        for component in ac {
            func quantise(_ value: Double) -> Int {
                Int(max(0, min(18, (signedPow(value / maximumValue, 0.5) * 9 + 9.5).rounded(.down))))
            }
            hash += base83(quantise(component.x) * 19 * 19 + quantise(component.y) * 19 + quantise(component.z), length: 2)
        }
        return hash
    }

    static func base83(_ value: Int, length: Int) -> String {
        var result = ""
        for i in 1...length {
            var divisor = 1
            for _ in 0..<(length - i) { divisor *= 83 }
            result.append(characters[(value / divisor) % 83])
        }
        return result
    }

    static func sRGBToLinear(_ value: Int) -> Double {
        let v = Double(value) / 255
        return v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4)
    }

    static func linearToSRGB(_ value: Double) -> Int {
        let v = max(0, min(1, value))
        let s = v <= 0.0031308 ? v * 12.92 * 255 + 0.5 : (1.055 * pow(v, 1 / 2.4) - 0.055) * 255 + 0.5
        return Int(s)
    }

    static func signedPow(_ value: Double, _ exponent: Double) -> Double {
        (value < 0 ? -1 : 1) * pow(abs(value), exponent)
    }
}

extension Bitmap {
    /// RGB triples, gray expanded, alpha composited over white.
    func rgbOverWhite() -> [UInt8] {
        let flat = flattened()
        if flat.channels == 3 { return flat.bytes }
        return flat.bytes.flatMap { [$0, $0, $0] }
    }

    /// The alpha samples, or nil without an alpha channel.
    func alphaSamples() -> [UInt8]? {
        guard hasAlphaChannel else { return nil }
        let all = bytes
        return stride(from: channels - 1, to: all.count, by: channels).map { all[$0] }
    }
}
