#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a `cover` crop goes when the gravity is `attention` or `entropy`, found on a small copy
/// of the image (at most `analysisSide` pixels on its long side), along the one axis the crop
/// shortens.
///
/// - `attention` is libvips's `vips_smartcrop` attention strategy: pixels scored by Sobel edges
///   of L*, skin tones and saturated colour; the map averaged to 32×32 cells and blurred in
///   proportion to the crop; the crop centred on its peak.
/// - `entropy`: the crop window is slid along that axis and the window whose luminance histogram
///   has the most entropy (detail) wins; its histograms are running totals, never a window re-added.
///
/// Work is linear in the analysed pixels.
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
        // The crop's length along the axis that is cropped, in the small copy's pixels.
        let window = horizontal ? max(1, Int((width * sx).rounded())) : max(1, Int((height * sy).rounded()))
        let best: Int
        if gravity == .attention {
            let centre = peak(interest(small), width: small.width, height: small.height,
                              crop: (width * sx, height * sy))
            best = Int(((horizontal ? centre.x : centre.y) - Double(window) / 2).rounded())
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

    /// The interest of each pixel of `bitmap` (row-major), as libvips scores it: Sobel edges of
    /// CIE L*, plus 255 where the colour is a skin tone (a* 3…22, b* 4…31, L* ≥ 15) and 255 where
    /// it is saturated (chroma over 60); blurred 3×3. Transparent pixels count for nothing.
    static func interest(_ bitmap: Bitmap) -> [Double] {
        let w = bitmap.width, h = bitmap.height, c = bitmap.channels, p = bitmap.storage.pointer
        var lightness = [Double](repeating: 0, count: w * h)
        var colour = [Double](repeating: 0, count: w * h)
        var alphas = [Double](repeating: 1, count: w * h)
        for i in 0..<(w * h) {
            let r = p[i * c], g = p[i * c + (c >= 3 ? 1 : 0)], b = p[i * c + (c >= 3 ? 2 : 0)]
            let alpha = c == 2 || c == 4 ? Double(p[i * c + c - 1]) / 255 : 1
            let lab = Self.lab(r, g, b)
            lightness[i] = lab.l
            alphas[i] = alpha
            let skin = (3...22).contains(lab.a) && (4...31).contains(lab.b) && lab.l >= 15
            let saturated = (lab.a * lab.a + lab.b * lab.b).squareRoot() > 60
            colour[i] = ((skin ? 255 : 0) + (saturated ? 255 : 0)) * alpha
        }
        var score = [Double](repeating: 0, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                func at(_ dx: Int, _ dy: Int) -> Double { lightness[min(h - 1, max(0, y + dy)) * w + min(w - 1, max(0, x + dx))] }
                let gx = at(1, -1) + 2 * at(1, 0) + at(1, 1) - at(-1, -1) - 2 * at(-1, 0) - at(-1, 1)
                let gy = at(-1, 1) + 2 * at(0, 1) + at(1, 1) - at(-1, -1) - 2 * at(0, -1) - at(1, -1)
                score[y * w + x] = (abs(gx) + abs(gy)) * alphas[y * w + x] + colour[y * w + x]
            }
        }
        return blurred(score, width: w, height: h)
    }

    /// sRGB (8-bit) to CIE L*a*b* (D65).
    static func lab(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> (l: Double, a: Double, b: Double) {
        let (lr, lg, lb) = (linear[Int(r)], linear[Int(g)], linear[Int(b)])
        let x = (0.4124 * lr + 0.3576 * lg + 0.1805 * lb) / 0.95047
        let y = 0.2126 * lr + 0.7152 * lg + 0.0722 * lb
        let z = (0.0193 * lr + 0.1192 * lg + 0.9505 * lb) / 1.08883
        func f(_ t: Double) -> Double { t > 216.0 / 24389 ? cbrt(t) : (24389.0 / 27 * t + 16) / 116 }
        let (fx, fy, fz) = (f(x), f(y), f(z))
        return (116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz))
    }

    /// sRGB's transfer function, undone, for each 8-bit value.
    static let linear: [Double] = (0..<256).map { value in
        let v = Double(value) / 255
        return v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4)
    }

    /// Where the crop goes, libvips's way: the score map averaged down to 32×32 cells, blurred
    /// (Gaussian, sigma a sixth of the crop's diagonal in cells), and the centre of its
    /// highest cell, in the map's pixels.
    static func peak(_ score: [Double], width w: Int, height h: Int, crop: (width: Double, height: Double)) -> (x: Double, y: Double) {
        let cells = 32
        let (cw, ch) = (min(cells, w), min(cells, h))
        var grid = [Double](repeating: 0, count: cw * ch)
        for y in 0..<h {
            for x in 0..<w { grid[(y * ch / h) * cw + x * cw / w] += score[y * w + x] }
        }
        let (hs, vs) = (Double(w) / Double(cw), Double(h) / Double(ch))
        let sigma = max(0.5, ((crop.width / hs) * (crop.width / hs) + (crop.height / vs) * (crop.height / vs)).squareRoot() / 6)
        let blurredGrid = gaussian(grid, width: cw, height: ch, sigma: sigma)
        var best = 0
        for i in blurredGrid.indices where blurredGrid[i] > blurredGrid[best] + 1e-9 { best = i }
        return ((Double(best % cw) + 0.5) * hs, (Double(best / cw) + 0.5) * vs)
    }

    /// A separable Gaussian blur (edges clamped), radius 3 sigma.
    static func gaussian(_ values: [Double], width w: Int, height h: Int, sigma: Double) -> [Double] {
        let radius = max(1, Int((3 * sigma).rounded(.up)))
        let kernel = (-radius...radius).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        var rows = values
        for y in 0..<h {
            for x in 0..<w {
                var sum = 0.0
                for (k, weight) in kernel.enumerated() { sum += weight * values[y * w + min(w - 1, max(0, x + k - radius))] }
                rows[y * w + x] = sum
            }
        }
        var out = rows
        for y in 0..<h {
            for x in 0..<w {
                var sum = 0.0
                for (k, weight) in kernel.enumerated() { sum += weight * rows[min(h - 1, max(0, y + k - radius)) * w + x] }
                out[y * w + x] = sum
            }
        }
        return out
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
