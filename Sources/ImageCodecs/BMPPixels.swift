import Foundation
internal import CImageCodecs

/// An RGBA canvas, zeroed (transparent black), handed out as a C image or freed.
final class Canvas {
    let width: Int
    let height: Int
    private(set) var pixels: UnsafeMutablePointer<UInt8>?

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        pixels = calloc(width * height, 4)?.assumingMemoryBound(to: UInt8.self)
    }

    deinit { free(pixels) }

    @inline(__always) func set(_ x: Int, _ y: Int, _ r: UInt8, _ g: UInt8, _ b: UInt8, _ a: UInt8) {
        guard let pixels else { return }
        let at = (y * width + x) * 4
        pixels[at] = r
        pixels[at + 1] = g
        pixels[at + 2] = b
        pixels[at + 3] = a
    }

    func alpha(_ x: Int, _ y: Int) -> UInt8 { pixels?[(y * width + x) * 4 + 3] ?? 0 }

    func setAlpha(_ x: Int, _ y: Int, _ a: UInt8) { pixels?[(y * width + x) * 4 + 3] = a }

    /// Every alpha to 255 (a 32-bit BMP whose fourth bytes are all zero has no alpha).
    func makeOpaque() {
        guard let pixels else { return }
        for index in 0..<(width * height) { pixels[index * 4 + 3] = 255 }
    }

    func isOpaque() -> Bool {
        guard let pixels else { return true }
        for index in 0..<(width * height) where pixels[index * 4 + 3] != 255 { return false }
        return true
    }

    /// The canvas as a C image (the caller frees the pixels): RGB when every pixel is opaque.
    func image() -> ic_image? {
        guard let pixels else { return nil }
        var image = ic_image()
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.channels = 4
        if isOpaque() {
            for index in 0..<(width * height) {
                pixels[index * 3] = pixels[index * 4]
                pixels[index * 3 + 1] = pixels[index * 4 + 1]
                pixels[index * 3 + 2] = pixels[index * 4 + 2]
            }
            image.channels = 3
        }
        image.pixels = pixels
        self.pixels = nil
        return image
    }
}

/// Uncompressed rows: palette indices, 16/32-bit bit fields or 24-bit BGR, each row padded to 4 bytes.
struct Rows {
    let data: LittleEndian
    let header: BMPCodec.Header

    /// False when the data ends before the last row (the rows that arrived are drawn).
    func draw(on canvas: Canvas) -> Bool {
        let fields = header.masks.enumerated().map { BitField(mask: $1, isAlpha: $0 == 3) }
        var sawAlpha = false
        let rowBytes = (header.width * header.bitCount + 7) / 8
        for row in 0..<header.height {
            let start = header.pixelOffset + row * header.bytesPerRow
            guard start + rowBytes <= data.count else { return false }
            let y = header.topDown ? row : header.height - 1 - row
            for x in 0..<header.width {
                switch header.bitCount {
                case 24:
                    let at = start + x * 3
                    canvas.set(x, y, data[at + 2], data[at + 1], data[at], 255)
                case 16, 32:
                    let at = start + x * header.bitCount / 8
                    let value = header.bitCount == 16 ? UInt32(data[at]) | UInt32(data[at + 1]) << 8
                        : UInt32(data[at]) | UInt32(data[at + 1]) << 8 | UInt32(data[at + 2]) << 16 | UInt32(data[at + 3]) << 24
                    let alpha = fields[3].value(of: value)
                    sawAlpha = sawAlpha || (fields[3].mask != 0 && alpha != 0)
                    canvas.set(x, y, fields[0].value(of: value), fields[1].value(of: value), fields[2].value(of: value), alpha)
                default:
                    let bit = x * header.bitCount
                    let byte = data[start + bit / 8]
                    let index = Int(byte >> (8 - header.bitCount - bit % 8)) & ((1 << header.bitCount) - 1)
                    setIndex(index, x, y, on: canvas)
                }
            }
        }
        if (header.bitCount == 16 || header.bitCount == 32) && !sawAlpha { canvas.makeOpaque() }
        return true
    }

    func setIndex(_ index: Int, _ x: Int, _ y: Int, on canvas: Canvas) {
        let palette = header.palette
        guard index * 3 + 2 < palette.count else { return canvas.set(x, y, 0, 0, 0, 255) }
        canvas.set(x, y, palette[index * 3], palette[index * 3 + 1], palette[index * 3 + 2], 255)
    }

    /// An ICO's AND mask (1 bit a pixel, 1: transparent) after the colours, for an image without
    /// alpha of its own; a mask cut short is ignored, as browsers do.
    func applyMask(at start: Int, to canvas: Canvas) {
        let stride = (header.width + 31) / 32 * 4
        guard start + stride * header.height <= data.count, canvas.isOpaque() else { return }
        for row in 0..<header.height {
            let y = header.topDown ? row : header.height - 1 - row
            for x in 0..<header.width where data[start + row * stride + x / 8] & (0x80 >> (x % 8)) != 0 {
                canvas.setAlpha(x, y, 0)
            }
        }
    }
}

/// One channel of a bit-field pixel, scaled to 8 bits (an absent alpha is opaque).
struct BitField {
    let mask: UInt32
    let shift: Int
    let bits: Int
    let isAlpha: Bool

    init(mask: UInt32, isAlpha: Bool) {
        self.mask = mask
        self.isAlpha = isAlpha
        shift = mask == 0 ? 0 : mask.trailingZeroBitCount
        bits = (mask >> UInt32(shift)).nonzeroBitCount
    }

    @inline(__always) func value(of pixel: UInt32) -> UInt8 {
        guard bits > 0 else { return isAlpha ? 255 : 0 }
        let raw = (pixel & mask) >> UInt32(shift)
        if bits >= 8 { return UInt8(truncatingIfNeeded: raw >> UInt32(bits - 8)) }
        return UInt8(raw * 255 / ((1 << UInt32(bits)) - 1))
    }
}

/// RLE8 and RLE4: runs, absolute runs, end of line, delta and end of bitmap. Pixels the stream
/// skips stay transparent; a run past its row's end is clipped.
struct RLEReader {
    let data: LittleEndian
    let header: BMPCodec.Header

    /// False when the data ends before the end-of-bitmap code or the last row.
    func draw(on canvas: Canvas) -> Bool {
        let rows = Rows(data: data, header: header)
        let four = header.bitCount == 4
        var at = header.pixelOffset, x = 0, row = 0
        func put(_ index: Int) {
            if x < header.width && row < header.height {
                rows.setIndex(index, x, header.topDown ? row : header.height - 1 - row, on: canvas)
            }
            x += 1
        }
        while row < header.height {
            guard at + 2 <= data.count else { return false }
            let count = Int(data[at]), value = Int(data[at + 1])
            at += 2
            if count > 0 {
                for n in 0..<min(count, max(0, header.width - x)) { put(four ? (n % 2 == 0 ? value >> 4 : value & 15) : value) }
                continue
            }
            switch value {
            case 0: x = 0; row += 1
            case 1: return true
            case 2:
                guard at + 2 <= data.count else { return false }
                x += Int(data[at])
                row += Int(data[at + 1])
                at += 2
            default:
                let length = four ? (value + 1) / 2 : value
                guard at + length <= data.count else { return false }
                for n in 0..<value where x < header.width {
                    let byte = Int(data[at + (four ? n / 2 : n)])
                    put(four ? (n % 2 == 0 ? byte >> 4 : byte & 15) : byte)
                }
                at += length + length % 2
            }
        }
        return true
    }
}
