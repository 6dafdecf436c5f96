#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Separable Lanczos3 resampling (horizontal pass, then vertical) with precomputed weights.
///
/// - Downscaling widens the kernel by the scale factor, so every source pixel contributes
///   (no aliasing); upscaling uses the plain kernel.
/// - At the edges, taps that fall outside the image are dropped and the remaining weights
///   renormalised, so borders keep their brightness (no dark or wrapped edges).
/// - Images with alpha are filtered premultiplied: colour is weighted by alpha, so fully
///   transparent pixels never bleed their (meaningless) colour into visible ones.
public enum Resampler {
    /// Resamples `region` of `source` (in source pixel coordinates, may be fractional)
    /// to exactly `size`.
    public static func resample(_ source: Bitmap, region: Region, to size: Size) -> Bitmap {
        precondition(size.width > 0 && size.height > 0, "target size must be positive")
        let horizontal = FilterContributions(
            sourceLength: source.width, regionStart: region.x, regionLength: region.width, outputLength: size.width)
        let vertical = FilterContributions(
            sourceLength: source.height, regionStart: region.y, regionLength: region.height, outputLength: size.height)
        let channels = source.channels
        let firstRow = vertical.firstSourceIndex
        let rowCount = vertical.endSourceIndex - firstRow
        let rowFloats = size.width * channels

        // Horizontal pass over just the rows the vertical pass reads, into Float (premultiplied).
        let intermediate = UnsafeMutablePointer<Float>.allocate(capacity: rowCount * rowFloats)
        defer { intermediate.deallocate() }
        for row in 0..<rowCount {
            let sourceRow = UnsafePointer(source.storage.pointer + (firstRow + row) * source.rowBytes)
            let outputRow = intermediate + row * rowFloats
            switch channels {
            case 1: horizontalGray(sourceRow, outputRow, horizontal)
            case 3: horizontalRGB(sourceRow, outputRow, horizontal)
            default: horizontalPremultiplied(sourceRow, outputRow, horizontal, channels: channels)
            }
        }

        // Vertical pass: whole rows at a time, contiguous and vectorisable.
        let output = Bitmap(width: size.width, height: size.height, channels: channels)
        let accumulator = UnsafeMutablePointer<Float>.allocate(capacity: rowFloats)
        defer { accumulator.deallocate() }
        vertical.weights.withUnsafeBufferPointer { weights in
            for y in 0..<size.height {
                accumulator.initialize(repeating: 0, count: rowFloats)
                let start = Int(vertical.starts[y]), count = Int(vertical.counts[y])
                let weightBase = y * vertical.stride
                for tap in 0..<count {
                    let weight = weights[weightBase + tap]
                    let row = intermediate + (start + tap - firstRow) * rowFloats
                    for i in 0..<rowFloats { accumulator[i] += weight * row[i] }
                }
                let outputRow = output.storage.pointer + y * rowFloats
                if channels == 2 || channels == 4 {
                    storeUnpremultiplied(accumulator, outputRow, pixels: size.width, channels: channels)
                } else {
                    for i in 0..<rowFloats { outputRow[i] = clampToByte(accumulator[i]) }
                }
            }
        }
        return output
    }

    /// Resamples the whole of `source` to `size`.
    public static func resample(_ source: Bitmap, to size: Size) -> Bitmap {
        resample(source, region: Region(size: source.size), to: size)
    }

    @inline(__always)
    static func clampToByte(_ value: Float) -> UInt8 {
        if !(value > 0) { return 0 }  // also maps NaN to 0
        if value >= 255 { return 255 }
        return UInt8(value + 0.5)
    }

    private static func horizontalGray(_ source: UnsafePointer<UInt8>, _ output: UnsafeMutablePointer<Float>,
                                       _ filter: FilterContributions) {
        filter.weights.withUnsafeBufferPointer { weights in
            for x in 0..<filter.outputLength {
                let start = Int(filter.starts[x]), count = Int(filter.counts[x])
                let base = x * filter.stride
                var sum: Float = 0
                for tap in 0..<count { sum += weights[base + tap] * Float(source[start + tap]) }
                output[x] = sum
            }
        }
    }

    private static func horizontalRGB(_ source: UnsafePointer<UInt8>, _ output: UnsafeMutablePointer<Float>,
                                      _ filter: FilterContributions) {
        filter.weights.withUnsafeBufferPointer { weights in
            for x in 0..<filter.outputLength {
                let start = Int(filter.starts[x]), count = Int(filter.counts[x])
                let base = x * filter.stride
                var r: Float = 0, g: Float = 0, b: Float = 0
                var p = source + start * 3
                for tap in 0..<count {
                    let w = weights[base + tap]
                    r += w * Float(p[0])
                    g += w * Float(p[1])
                    b += w * Float(p[2])
                    p += 3
                }
                output[x * 3] = r
                output[x * 3 + 1] = g
                output[x * 3 + 2] = b
            }
        }
    }

    /// Gray + alpha or RGBA: colour samples are multiplied by alpha (0...255) as they are read.
    private static func horizontalPremultiplied(_ source: UnsafePointer<UInt8>, _ output: UnsafeMutablePointer<Float>,
                                                _ filter: FilterContributions, channels: Int) {
        let colours = channels - 1
        filter.weights.withUnsafeBufferPointer { weights in
            for x in 0..<filter.outputLength {
                let start = Int(filter.starts[x]), count = Int(filter.counts[x])
                let base = x * filter.stride
                var c0: Float = 0, c1: Float = 0, c2: Float = 0, alpha: Float = 0
                var p = source + start * channels
                for tap in 0..<count {
                    let w = weights[base + tap]
                    let a = Float(p[colours])
                    let wa = w * a
                    alpha += wa
                    c0 += wa * Float(p[0])
                    if colours == 3 {
                        c1 += wa * Float(p[1])
                        c2 += wa * Float(p[2])
                    }
                    p += channels
                }
                let o = output + x * channels
                o[0] = c0
                if colours == 3 {
                    o[1] = c1
                    o[2] = c2
                }
                o[colours] = alpha
            }
        }
    }

    private static func storeUnpremultiplied(_ accumulator: UnsafeMutablePointer<Float>, _ output: UnsafeMutablePointer<UInt8>,
                                             pixels: Int, channels: Int) {
        let colours = channels - 1
        for x in 0..<pixels {
            let a = accumulator + x * channels
            let o = output + x * channels
            let alpha = a[colours]
            if alpha > 0.5 {  // below half a level the pixel rounds to fully transparent anyway
                let inverse = 1 / alpha
                for c in 0..<colours { o[c] = clampToByte(a[c] * inverse) }
                o[colours] = clampToByte(alpha)
            } else {
                for c in 0..<channels { o[c] = 0 }
            }
        }
    }
}

/// Precomputed filter taps for one axis: for each output pixel, the first source pixel, the
/// number of taps, and `count` normalised weights at `index * stride`.
struct FilterContributions {
    let outputLength: Int
    let stride: Int
    var starts: [Int32]
    var counts: [Int32]
    var weights: [Float]

    static let lanczosLobes = 3.0

    static func lanczos3(_ x: Double) -> Double {
        let ax = abs(x)
        if ax < 1e-9 { return 1 }
        if ax >= lanczosLobes { return 0 }
        let px = Double.pi * x
        return lanczosLobes * sin(px) * sin(px / lanczosLobes) / (px * px)
    }

    init(sourceLength: Int, regionStart: Double, regionLength: Double, outputLength: Int) {
        self.outputLength = outputLength
        let scale = regionLength / Double(outputLength)
        let filterScale = max(scale, 1)
        let support = Self.lanczosLobes * filterScale
        let stride = Int((support * 2).rounded(.up)) + 2
        self.stride = stride
        starts = [Int32](repeating: 0, count: outputLength)
        counts = [Int32](repeating: 0, count: outputLength)
        weights = [Float](repeating: 0, count: outputLength * stride)
        var taps = [Double](repeating: 0, count: stride)
        for i in 0..<outputLength {
            let centre = regionStart + (Double(i) + 0.5) * scale
            // Clamp to the image: taps beyond the edge are dropped, the rest renormalised.
            let low = max(0, Int((centre - support).rounded(.down)))
            let high = min(sourceLength, Int((centre + support).rounded(.up)))
            var first = low, n = 0, total = 0.0
            for j in low..<max(low, high) {
                let w = Self.lanczos3((Double(j) + 0.5 - centre) / filterScale)
                if n == 0 && abs(w) < 1e-7 { first = j + 1; continue }  // trim leading zeros
                taps[n] = w
                n += 1
                total += w
            }
            while n > 0 && abs(taps[n - 1]) < 1e-7 { total -= taps[n - 1]; n -= 1 }  // trailing zeros
            if n == 0 || abs(total) < 1e-12 {
                // Degenerate (a region thinner than a tap): take the nearest pixel.
                first = min(max(0, Int(centre.rounded(.down))), sourceLength - 1)
                taps[0] = 1
                n = 1
                total = 1
            }
            starts[i] = Int32(first)
            counts[i] = Int32(n)
            for t in 0..<n { weights[i * stride + t] = Float(taps[t] / total) }
        }
    }

    var firstSourceIndex: Int { Int(starts.min() ?? 0) }
    var endSourceIndex: Int {
        var end = 0
        for i in 0..<outputLength { end = max(end, Int(starts[i]) + Int(counts[i])) }
        return end
    }
}
