/// Finds the EXIF (TIFF) block of a JPEG (first APP1 "Exif" segment before the first scan)
/// or a PNG (eXIf chunk, before or after the image data). Pure, bounds-checked Swift: the
/// C shim parses no EXIF.
enum ExifLocator {
    static func tiffBlock(in bytes: UnsafeRawBufferPointer, format: ImageFormat) -> UnsafeRawBufferPointer? {
        switch format {
        case .jpeg: return jpegTIFF(bytes)
        case .png: return pngTIFF(bytes)
        // GIF has no EXIF; AVIF's and HEIC's orientation is irot/imir (read by the shim), TIFF's and JPEG XL's
        // their own header field (read by the shim); browsers ignore WebP's EXIF.
        case .webp, .avif, .gif, .tiff, .heic, .jxl, .bmp, .ico, .svg: return nil  // BMP, ICO and SVG carry none
        }
    }

    private static func be16(_ b: UnsafeRawBufferPointer, _ at: Int) -> Int? {
        guard at >= 0, at + 2 <= b.count else { return nil }
        return Int(b[at]) << 8 | Int(b[at + 1])
    }

    private static func be32(_ b: UnsafeRawBufferPointer, _ at: Int) -> Int? {
        guard let high = be16(b, at), let low = be16(b, at + 2) else { return nil }
        return high << 16 | low
    }

    private static func jpegTIFF(_ b: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        var i = 2
        while i + 4 <= b.count {
            guard b[i] == 0xFF else { return nil }
            let marker = b[i + 1]
            if marker == 0xFF { i += 1; continue }              // fill byte
            if marker == 0xD9 || marker == 0xDA { return nil }  // EOI or start of scan
            if marker == 0x01 || (0xD0...0xD7).contains(marker) { i += 2; continue }
            guard let length = be16(b, i + 2), length >= 2, i + 2 + length <= b.count else { return nil }
            let payload = i + 4, end = i + 2 + length
            if marker == 0xE1, end - payload > 6,
               b[payload] == 0x45, b[payload + 1] == 0x78, b[payload + 2] == 0x69, b[payload + 3] == 0x66,
               b[payload + 4] == 0, b[payload + 5] == 0 {
                return UnsafeRawBufferPointer(rebasing: b[(payload + 6)..<end])
            }
            i = end
        }
        return nil
    }

    private static func pngTIFF(_ b: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        var i = 8
        while let length = be32(b, i), i + 12 + length <= b.count {
            let type = (b[i + 4], b[i + 5], b[i + 6], b[i + 7])
            if type == (0x65, 0x58, 0x49, 0x66) {  // "eXIf"
                return UnsafeRawBufferPointer(rebasing: b[(i + 8)..<(i + 8 + length)])
            }
            if type == (0x49, 0x45, 0x4E, 0x44) { return nil }  // "IEND"
            i += 12 + length
        }
        return nil
    }
}
