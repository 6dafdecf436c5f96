#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a `cover` crop goes when the gravity is `attention` or `entropy`: the crop window is
/// slid along the one axis the crop shortens, over a small copy of the image (at most
/// `analysisSide` pixels on its long side), and put where its score is highest.
///
/// - `attention` follows libvips's `vips_smartcrop` attention strategy: a pixel's interest is
///   its edge strength (luminance Laplacian), plus skin tones, plus saturated colour, the map
///   blurred a little; the window with the most interest wins.
/// - `entropy`: the window whose luminance histogram has the most entropy (detail) wins.
///
/// Work is linear in the analysed pixels: sums come from running totals, never a window re-added.
public enum SmartCrop {
    public static let analysisSide = 256

    /// The region of `bitmap` (its own pixel coordinates) of `width` × `height` chosen by
    /// `gravity`; centred for the gravities that need no pixels.
    public static func region(in bitmap: Bitmap, width: Double, height: Double, gravity: Gravity) -> Region {
        let centred = Region(x: (Double(bitmap.width) - width) / 2, y: (Double(bitmap.height) - height) / 2, width: width, height: height)
        guard gravity.needsPixels, width < Double(bitmap.width) || height < Double(bitmap.height) else { return centred }
        let scale = min(1, Double(analysisSide) / Double(max(bitmap.width, bitmap.height)))
        let small = scale < 1
            ? Resampler.resample(bitmap, to: Size(width: max(1, Int((Double(bitmap.width) * scale).rounded())),
                                                  height: max(1, Int((Double(bitmap.height) * scale).rounded()))))
            : bitmap
        let sx = Double(small.width) / Double(bitmap.width), sy = Double(small.height) / Double(bitmap.height)
        let horizontal = width < Double(bitmap.width)
        // Along the axis that is cropped: the score of each line (a column or a row) of the small copy.
        let window = horizontal ? max(1, Int((width * sx).rounded())) : max(1, Int((height * sy).rounded()))
        let best: Int
        if gravity == .attention {
            best = bestStart(lineScores: lineSums(interest(small), small, columns: horizontal), window: window)
        } else {
            best = bestEntropyStart(small, columns: horizontal, window: window)
        }
        if horizontal {
            let x = min(max(0, Double(best) / sx), Double(bitmap.width) - width)
            return Region(x: x, y: centred.y, width: width, height: height)
        }
        let y = min(max(0, Double(best) / sy), Double(bitmap.height) - height)
        return Region(x: centred.x, y: y, width: width, height: height)
    }

    /// The interest of each pixel of `bitmap` (row-major): edges + skin + saturation, blurred 3×3.
    static func interest(_ bitmap: Bitmap) -> [Double] {
        let w = bitmap.width, h = bitmap.height, c = bitmap.channels, p = bitmap.storage.pointer
        var luma = [Double](repeating: 0, count: w * h)
        var colour = [Double](repeating: 0, count: w * h)
        for i in 0..<(w * h) {
            let r = Double(p[i * c]), g = Double(p[i * c + (c >= 3 ? 1 : 0)]), b = Double(p[i * c + (c >= 3 ? 2 : 0)])
            let alpha = c == 2 || c == 4 ? Double(p[i * c + c - 1]) / 255 : 1
            luma[i] = (0.299 * r + 0.587 * g + 0.114 * b) * alpha
            colour[i] = (skin(r, g, b) + 0.5 * saturation(r, g, b)) * alpha
        }
        var score = [Double](repeating: 0, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                let i = y * w + x
                let left = luma[y * w + max(0, x - 1)], right = luma[y * w + min(w - 1, x + 1)]
                let up = luma[max(0, y - 1) * w + x], down = luma[min(h - 1, y + 1) * w + x]
                let edge = abs(4 * luma[i] - left - right - up - down) / 255
                score[i] = edge + colour[i]
            }
        }
        return blurred(score, width: w, height: h)
    }

    /// How close a colour is to a skin tone (1 on it, 0 far away): libvips's test, the distance
    /// of the normalised colour from a reference skin colour, for pixels neither too dark nor too bright.
    static func skin(_ r: Double, _ g: Double, _ b: Double) -> Double {
        let magnitude = (r * r + g * g + b * b).squareRoot()
        guard magnitude > 30, magnitude < 400 else { return 0 }
        let (sr, sg, sb) = (0.78, 0.57, 0.44)  // (r, g, b) of skin, normalised
        let dr = r / magnitude - sr, dg = g / magnitude - sg, db = b / magnitude - sb
        let distance = (dr * dr + dg * dg + db * db).squareRoot()
        return max(0, 1 - distance / 0.12)
    }

    /// Saturation of an 8-bit colour, 0...1.
    static func saturation(_ r: Double, _ g: Double, _ b: Double) -> Double {
        let high = max(r, g, b), low = min(r, g, b)
        return high == 0 ? 0 : (high - low) / high
    }

    /// A 3×3 box blur (edges clamped).
    static func blurred(_ values: [Double], width w: Int, height h: Int) -> [Double] {
        var rows = values
        for y in 0..<h {
            for x in 0..<w {
                rows[y * w + x] = (values[y * w + max(0, x - 1)] + values[y * w + x] + values[y * w + min(w - 1, x + 1)]) / 3
            }
        }
        var out = rows
        for y in 0..<h {
            for x in 0..<w {
                out[y * w + x] = (rows[max(0, y - 1) * w + x] + rows[y * w + x] + rows[min(h - 1, y + 1) * w + x]) / 3
            }
        }
        return out
    }

    /// The sum of `values` down each column (`columns`) or along each row.
    static func lineSums(_ values: [Double], _ bitmap: Bitmap, columns: Bool) -> [Double] {
        let w = bitmap.width, h = bitmap.height
        var sums = [Double](repeating: 0, count: columns ? w : h)
        for y in 0..<h {
            for x in 0..<w { sums[columns ? x : y] += values[y * w + x] }
        }
        return sums
    }

    /// The start of the `window` consecutive lines with the highest total (the most central of equals).
    static func bestStart(lineScores: [Double], window: Int) -> Int {
        let count = lineScores.count
        guard window < count else { return 0 }
        var total = lineScores[0..<window].reduce(0, +)
        var best = (start: 0, total: total, distance: abs(Double(count - window) / 2))
        for start in 1...(count - window) {
            total += lineScores[start + window - 1] - lineScores[start - 1]
            let distance = abs(Double(start) - Double(count - window) / 2)
            if total > best.total + 1e-9 || (abs(total - best.total) <= 1e-9 && distance < best.distance) {
                best = (start, total, distance)
            }
        }
        return best.start
    }

    /// The start of the window whose luminance (16 levels) has the most entropy.
    static func bestEntropyStart(_ bitmap: Bitmap, columns: Bool, window: Int) -> Int {
        let w = bitmap.width, h = bitmap.height, c = bitmap.channels, p = bitmap.storage.pointer
        let lines = columns ? w : h
        guard window < lines else { return 0 }
        // Per line, how many of its pixels fall in each of 16 luminance bins.
        var bins = [Int](repeating: 0, count: lines * 16)
        for y in 0..<h {
            for x in 0..<w {
                let i = (y * w + x) * c
                let r = Int(p[i]), g = Int(p[i + (c >= 3 ? 1 : 0)]), b = Int(p[i + (c >= 3 ? 2 : 0)])
                let level = (299 * r + 587 * g + 114 * b) / 1000 / 16
                bins[(columns ? x : y) * 16 + level] += 1
            }
        }
        var histogram = [Int](repeating: 0, count: 16)
        for line in 0..<window { for bin in 0..<16 { histogram[bin] += bins[line * 16 + bin] } }
        func entropy() -> Double {
            let total = Double(histogram.reduce(0, +))
            return histogram.reduce(0.0) { sum, n in n == 0 ? sum : sum - Double(n) / total * log2(Double(n) / total) }
        }
        var best = (start: 0, value: entropy(), distance: abs(Double(lines - window) / 2))
        for start in 1...(lines - window) {
            for bin in 0..<16 {
                histogram[bin] += bins[(start + window - 1) * 16 + bin] - bins[(start - 1) * 16 + bin]
            }
            let value = entropy(), distance = abs(Double(start) - Double(lines - window) / 2)
            if value > best.value + 1e-9 || (abs(value - best.value) <= 1e-9 && distance < best.distance) {
                best = (start, value, distance)
            }
        }
        return best.start
    }
}
