import Foundation
internal import CImageCodecs

/// BMP in bounds-checked Swift (no system library reads it): Windows 3 to 5 and OS/2 headers;
/// 1, 4 and 8-bit palettes, 16 and 32-bit bit fields, 24-bit; RLE8 and RLE4; bottom-up and
/// top-down rows. Also the device-independent bitmap inside an ICO (`ICOCodec`): no file header,
/// the height doubled, an AND mask after the colours.
///
/// The header's size is checked against the pixel limit before the RGBA canvas is allocated.
/// Work is linear in the input and the canvas: an RLE op reads at least two bytes and writes at
/// most to the end of its row. Rules follow browsers: pixels an RLE stream skips are transparent,
/// a 32-bit image's fourth byte is alpha only when some pixel's is not zero, a palette index
/// past the palette is black.
enum BMPCodec: SwiftCodec {
    /// What the headers say about the pixels.
    struct Header {
        var width = 0
        var height = 0
        var topDown = false
        var bitCount = 0
        var compression = 0
        /// Red, green, blue and alpha masks for 16 and 32-bit pixels.
        var masks: [UInt32] = [0, 0, 0, 0]
        /// RGB triples.
        var palette: [UInt8] = []
        /// Where the pixel data starts in the bytes the header was read from.
        var pixelOffset = 0
        var bytesPerRow: Int { (width * bitCount + 31) / 32 * 4 }
        var isRLE: Bool { compression == 1 || compression == 2 }
    }

    static func probe(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> ic_info {
        info(try fileHeader(LittleEndian(bytes)))
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, options: ic_decode_options) throws(CodecError) -> (ic_info, ic_image, String?) {
        let data = LittleEndian(bytes)
        let header = try fileHeader(data)
        let (image, warning) = try pixels(data, header: header, options: options)
        return (info(header), image, warning)
    }

    /// A BMP file: "BM", the pixel data's offset, then the DIB header.
    static func fileHeader(_ data: LittleEndian) throws(CodecError) -> Header {
        guard data.count >= 18 else { throw CodecError(.truncated, "BMP: the file ends inside its header (\(data.count) bytes)") }
        var header = try dibHeader(data, at: 14, heightIsDoubled: false)
        header.pixelOffset = Int(try data.u32(10))
        guard header.pixelOffset >= 14 && header.pixelOffset <= data.count else {
            throw CodecError(header.pixelOffset > data.count ? .truncated : .corrupt,
                             "BMP: the pixel data's offset \(header.pixelOffset) is outside the file's \(data.count) bytes")
        }
        return header
    }

    /// The DIB header at `start`, its bit-field masks and palette; `pixelOffset` is set to just
    /// after the palette (an ICO's layout; a BMP file's own offset replaces it).
    static func dibHeader(_ data: LittleEndian, at start: Int, heightIsDoubled: Bool) throws(CodecError) -> Header {
        let size = Int(try data.u32(start))
        guard [12, 16, 40, 52, 56, 64, 108, 124].contains(size) else { throw CodecError(.corrupt, "BMP: unknown header size \(size)") }
        var header = Header()
        if size == 12 {
            header.width = Int(try data.u16(start + 4))
            header.height = Int(try data.u16(start + 6))
            header.bitCount = Int(try data.u16(start + 10))
        } else {
            header.width = Int(try data.i32(start + 4))
            let height = Int(try data.i32(start + 8))
            header.topDown = height < 0
            header.height = abs(height)
            header.bitCount = Int(try data.u16(start + 14))
            header.compression = size >= 20 ? Int(try data.u32(start + 16)) : 0
        }
        if heightIsDoubled { header.height /= 2 }
        try validate(header, os2: size == 16 || size == 64)
        var next = start + size
        header.masks = try masks(data, header: header, start: start, size: size, next: &next)
        let colorsUsed = size >= 36 ? Int(try data.u32(start + 32)) : 0
        header.palette = try palette(data, header: header, at: next, colorsUsed: colorsUsed, entrySize: size == 12 ? 3 : 4)
        header.pixelOffset = next + header.palette.count / 3 * (size == 12 ? 3 : 4)
        return header
    }

    private static func validate(_ header: Header, os2: Bool) throws(CodecError) {
        guard header.width > 0 && header.height > 0 else {
            throw CodecError(.corrupt, "BMP: the image is empty (\(header.width)x\(header.height))")
        }
        guard [1, 4, 8, 16, 24, 32].contains(header.bitCount) else { throw CodecError(.corrupt, "BMP: \(header.bitCount) bits per pixel") }
        switch header.compression {
        case 0: break
        case 1 where header.bitCount == 8, 2 where header.bitCount == 4: break
        case 3 where !os2 && (header.bitCount == 16 || header.bitCount == 32), 6 where header.bitCount == 16 || header.bitCount == 32: break
        case 3 where os2, 4 where os2: throw CodecError(.unsupported, "BMP: OS/2 Huffman and RLE24 compression are not read")
        case 4, 5: throw CodecError(.unsupported, "BMP: an embedded \(header.compression == 4 ? "JPEG" : "PNG") is not read")
        default: throw CodecError(.corrupt, "BMP: compression \(header.compression) with \(header.bitCount) bits per pixel")
        }
    }

    /// The red, green, blue and alpha masks: from the header or after it (bit fields), else the defaults.
    private static func masks(_ data: LittleEndian, header: Header, start: Int, size: Int, next: inout Int) throws(CodecError) -> [UInt32] {
        guard header.compression == 3 || header.compression == 6 else {
            switch header.bitCount {
            case 16: return [0x7C00, 0x03E0, 0x001F, 0]
            case 32: return [0x00FF_0000, 0x0000_FF00, 0x0000_00FF, 0xFF00_0000]
            default: return [0, 0, 0, 0]
            }
        }
        let count = header.compression == 6 ? 4 : 3
        let at = size >= 52 ? start + 40 : next
        var masks: [UInt32] = [0, 0, 0, 0]
        for index in 0..<(size >= 56 ? 4 : count) { masks[index] = try data.u32(at + 4 * index) }
        if size < 52 { next += 4 * count }
        for mask in masks where mask != 0 {
            let shifted = mask >> mask.trailingZeroBitCount
            guard shifted & (shifted &+ 1) == 0 else { throw CodecError(.corrupt, "BMP: the bit-field mask \(mask) is not contiguous") }
        }
        return masks
    }

    private static func palette(_ data: LittleEndian, header: Header, at start: Int, colorsUsed: Int,
                                entrySize: Int) throws(CodecError) -> [UInt8] {
        guard header.bitCount <= 8 else { return [] }
        let count = colorsUsed > 0 ? min(colorsUsed, 1 << header.bitCount) : 1 << header.bitCount
        guard start + count * entrySize <= data.count else {
            throw CodecError(.truncated, "BMP: the file ends inside its \(count)-colour palette")
        }
        var rgb = [UInt8](repeating: 0, count: count * 3)
        for index in 0..<count {
            let at = start + index * entrySize
            rgb[index * 3] = data[at + 2]
            rgb[index * 3 + 1] = data[at + 1]
            rgb[index * 3 + 2] = data[at]
        }
        return rgb
    }

    static func info(_ header: Header) -> ic_info {
        var info = ic_info()
        info.width = UInt32(clamping: header.width)
        info.height = UInt32(clamping: header.height)
        info.bit_depth = Int32(header.bitCount <= 8 ? header.bitCount : 8)
        info.components = header.bitCount == 32 || header.isRLE ? 4 : 3
        info.color_space = Int32(header.bitCount <= 8 ? IC_CS_PALETTE : IC_CS_RGB)
        info.has_alpha = header.bitCount == 32 || header.isRLE ? 1 : 0
        info.orientation = 1
        info.frames = 1
        return info
    }

    /// The image as RGBA on a canvas of the header's size (checked against the limit first), then
    /// RGB when every pixel is opaque. A lenient decode keeps the rows that arrived.
    static func pixels(_ data: LittleEndian, header: Header, options: ic_decode_options,
                       andMask: Bool = false) throws(CodecError) -> (ic_image, String?) {
        let count = header.width * header.height
        if options.max_pixels > 0 && UInt64(count) > options.max_pixels {
            throw CodecError(.tooManyPixels, "\(header.width)x\(header.height) is \(count) pixels, over the limit of \(options.max_pixels)")
        }
        let canvas = Canvas(width: header.width, height: header.height)
        var complete = true
        if header.isRLE {
            complete = RLEReader(data: data, header: header).draw(on: canvas)
        } else {
            complete = Rows(data: data, header: header).draw(on: canvas)
            if andMask { Rows(data: data, header: header).applyMask(at: header.pixelOffset + header.bytesPerRow * header.height, to: canvas) }
        }
        if !complete && options.lenient == 0 {
            throw CodecError(.truncated, "BMP: the data ends before the image does (truncated)")
        }
        guard let image = canvas.image() else { throw CodecError(.outOfMemory, "cannot allocate the BMP image") }
        return (image, complete ? nil : "BMP: the data ends before the image does (truncated); the missing rows are transparent")
    }
}

/// Little-endian reads that throw "truncated" instead of reading past the end.
struct LittleEndian {
    let bytes: UnsafeRawBufferPointer
    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }
    var count: Int { bytes.count }
    subscript(_ index: Int) -> UInt8 { bytes[index] }

    func u16(_ at: Int) throws(CodecError) -> UInt16 {
        guard at >= 0, at + 2 <= bytes.count else { throw CodecError(.truncated, "the data ends inside a header (at byte \(at))") }
        return UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8
    }

    func u32(_ at: Int) throws(CodecError) -> UInt32 {
        UInt32(try u16(at)) | UInt32(try u16(at + 2)) << 16
    }

    func i32(_ at: Int) throws(CodecError) -> Int32 { Int32(bitPattern: try u32(at)) }

    /// The bytes from `start` for `length` (clipped to the end).
    func slice(_ start: Int, _ length: Int) -> LittleEndian {
        let from = min(max(0, start), bytes.count)
        return LittleEndian(UnsafeRawBufferPointer(rebasing: bytes[from..<min(bytes.count, from + max(0, length))]))
    }
}
