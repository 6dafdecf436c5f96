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
    ///
    /// Pixels are widened to `SIMD4<Float>` (premultiplied for alpha formats) once per
    /// source row, so every filter tap is one vector multiply-add whatever the channel count.
    public static func resample(_ source: Bitmap, region: Region, to size: Size) -> Bitmap {
        precondition(size.width > 0 && size.height > 0, "target size must be positive")
        let horizontal = FilterContributions(
            sourceLength: source.width, regionStart: region.x, regionLength: region.width, outputLength: size.width)
        let vertical = FilterContributions(
            sourceLength: source.height, regionStart: region.y, regionLength: region.height, outputLength: size.height)
        let channels = source.channels
        let outWidth = size.width

        // Horizontal rows are made on demand into a ring that holds just the rows one output
        // row reads (memory: taps x output width, not source height x output width).
        let ring = RowRing(vertical: vertical, rowLength: outWidth)
        defer { ring.deallocate() }
        let widened = UnsafeMutablePointer<SIMD4<Float>>.allocate(capacity: source.width)
        defer { widened.deallocate() }
        var nextRow = vertical.firstSourceIndex

        let output = Bitmap(width: outWidth, height: size.height, channels: channels)
        let accumulator = UnsafeMutablePointer<SIMD4<Float>>.allocate(capacity: outWidth)
        defer { accumulator.deallocate() }
        horizontal.withPointers { hStarts, hCounts, hWeights in
            vertical.withPointers { vStarts, vCounts, vWeights in
                for y in 0..<size.height {
                    let start = Int(vStarts[y]), count = Int(vCounts[y])
                    // Horizontal pass for the source rows this output row needs and the ring lacks.
                    while nextRow < start + count {
                        let sourceRow = UnsafePointer(source.storage.pointer + nextRow * source.rowBytes)
                        widen(sourceRow, into: widened, pixels: source.width, channels: channels)
                        let outputRow = ring.row(nextRow)
                        var w = hWeights
                        for x in 0..<outWidth {
                            let p = widened + Int(hStarts[x])
                            var sum = SIMD4<Float>.zero
                            for tap in 0..<Int(hCounts[x]) { sum += w[tap] * p[tap] }
                            outputRow[x] = sum
                            w += horizontal.stride
                        }
                        nextRow += 1
                    }
                    // Vertical pass: whole rows at a time.
                    let w = vWeights + y * vertical.stride
                    let first = ring.row(start), weight0 = w[0]
                    for x in 0..<outWidth { accumulator[x] = weight0 * first[x] }
                    for tap in 1..<max(1, count) {
                        let weight = w[tap]
                        let row = ring.row(start + tap)
                        for x in 0..<outWidth { accumulator[x] += weight * row[x] }
                    }
                    narrow(accumulator, into: output.storage.pointer + y * output.rowBytes, pixels: outWidth, channels: channels)
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

    /// One row of bytes to vectors: (g), (g*a, a), (r, g, b) or (r*a, g*a, b*a, a).
    private static func widen(_ source: UnsafePointer<UInt8>, into row: UnsafeMutablePointer<SIMD4<Float>>,
                              pixels: Int, channels: Int) {
        switch channels {
        case 1:
            for x in 0..<pixels { row[x] = SIMD4(Float(source[x]), 0, 0, 0) }
        case 2:
            for x in 0..<pixels {
                let a = Float(source[2 * x + 1])
                row[x] = SIMD4(Float(source[2 * x]) * a, a, 0, 0)
            }
        case 3:
            for x in 0..<pixels {
                let p = source + 3 * x
                row[x] = SIMD4(Float(p[0]), Float(p[1]), Float(p[2]), 0)
            }
        default:
            for x in 0..<pixels {
                let p = source + 4 * x
                let a = Float(p[3])
                row[x] = SIMD4(Float(p[0]) * a, Float(p[1]) * a, Float(p[2]) * a, a)
            }
        }
    }

    /// Vectors back to bytes, un-premultiplying alpha formats. A pixel whose alpha rounds to
    /// zero comes out as transparent black.
    private static func narrow(_ row: UnsafeMutablePointer<SIMD4<Float>>, into output: UnsafeMutablePointer<UInt8>,
                               pixels: Int, channels: Int) {
        switch channels {
        case 1:
            for x in 0..<pixels { output[x] = clampToByte(row[x][0]) }
        case 2:
            for x in 0..<pixels {
                let v = row[x], alpha = v[1]
                let o = output + 2 * x
                if alpha > 0.5 {
                    o[0] = clampToByte(v[0] / alpha)
                    o[1] = clampToByte(alpha)
                } else {
                    o[0] = 0
                    o[1] = 0
                }
            }
        case 3:
            for x in 0..<pixels {
                let v = row[x]
                let o = output + 3 * x
                o[0] = clampToByte(v[0])
                o[1] = clampToByte(v[1])
                o[2] = clampToByte(v[2])
            }
        default:
            for x in 0..<pixels {
                let v = row[x], alpha = v[3]
                let o = output + 4 * x
                if alpha > 0.5 {
                    let inverse = 1 / alpha
                    o[0] = clampToByte(v[0] * inverse)
                    o[1] = clampToByte(v[1] * inverse)
                    o[2] = clampToByte(v[2] * inverse)
                    o[3] = clampToByte(alpha)
                } else {
                    o[0] = 0; o[1] = 0; o[2] = 0; o[3] = 0
                }
            }
        }
    }
}

/// Horizontally filtered rows, addressed by source row index. When the vertical filter's
/// windows only move forward (they always do for a plain resize), it keeps just the last
/// `max(taps)` rows; otherwise every row the filter reads.
struct RowRing {
    let storage: UnsafeMutablePointer<SIMD4<Float>>
    let capacity: Int
    let rowLength: Int
    let firstRow: Int

    init(vertical: FilterContributions, rowLength: Int) {
        var forward = true, widest = 1
        for y in 0..<vertical.outputLength {
            widest = max(widest, Int(vertical.counts[y]))
            if y > 0 && (vertical.starts[y] < vertical.starts[y - 1]
                         || vertical.starts[y] + vertical.counts[y] < vertical.starts[y - 1] + vertical.counts[y - 1]) {
                forward = false
            }
        }
        firstRow = vertical.firstSourceIndex
        capacity = forward ? widest : vertical.endSourceIndex - firstRow
        self.rowLength = rowLength
        storage = .allocate(capacity: capacity * rowLength)
    }

    func row(_ index: Int) -> UnsafeMutablePointer<SIMD4<Float>> {
        storage + ((index - firstRow) % capacity) * rowLength
    }

    func deallocate() { storage.deallocate() }
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

    /// Calls `body` with raw pointers to the starts, counts and weights (for the hot loops).
    func withPointers<R>(_ body: (UnsafePointer<Int32>, UnsafePointer<Int32>, UnsafePointer<Float>) -> R) -> R {
        starts.withUnsafeBufferPointer { s in
            counts.withUnsafeBufferPointer { c in
                weights.withUnsafeBufferPointer { w in body(s.baseAddress!, c.baseAddress!, w.baseAddress!) }
            }
        }
    }

    var firstSourceIndex: Int { Int(starts.min() ?? 0) }
    var endSourceIndex: Int {
        var end = 0
        for i in 0..<outputLength { end = max(end, Int(starts[i]) + Int(counts[i])) }
        return end
    }
}
