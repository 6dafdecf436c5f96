import ImageCore
import Testing

@Suite("EXIF orientation")
struct OrientationTests {
    /// A 3x2 image whose pixels are 1...6 in reading order.
    let source = Bitmap(width: 3, height: 2, channels: 1, bytes: [1, 2, 3, 4, 5, 6])

    @Test("each orientation turns the stored pixels upright", arguments: [
        (Orientation.up, 3, [1, 2, 3, 4, 5, 6] as [UInt8]),
        (.upMirrored, 3, [3, 2, 1, 6, 5, 4]),
        (.down, 3, [6, 5, 4, 3, 2, 1]),
        (.downMirrored, 3, [4, 5, 6, 1, 2, 3]),
        (.leftMirrored, 2, [1, 4, 2, 5, 3, 6]),   // transpose
        (.right, 2, [4, 1, 5, 2, 6, 3]),          // rotate 90 clockwise
        (.rightMirrored, 2, [6, 3, 5, 2, 4, 1]),  // transverse
        (.left, 2, [3, 6, 2, 5, 1, 4]),           // rotate 90 counter-clockwise
    ])
    func apply(orientation: Orientation, width: Int, expected: [UInt8]) {
        let out = source.applying(orientation)
        #expect(out.width == width)
        #expect(out.bytes == expected)
    }

    @Test("multi-channel pixels move as a whole")
    func channelsMoveTogether() {
        let rgb = Bitmap(width: 2, height: 1, channels: 3, bytes: [1, 2, 3, 4, 5, 6])
        #expect(rgb.applying(.upMirrored).bytes == [4, 5, 6, 1, 2, 3])
        #expect(rgb.applying(.right).bytes == [1, 2, 3, 4, 5, 6])
        #expect(rgb.applying(.right).size == Size(width: 1, height: 2))
    }

    static func tiff(littleEndian: Bool, orientation: UInt16, type: UInt16 = 3) -> [UInt8] {
        func u16(_ v: UInt16) -> [UInt8] { littleEndian ? [UInt8(v & 0xFF), UInt8(v >> 8)] : [UInt8(v >> 8), UInt8(v & 0xFF)] }
        func u32(_ v: UInt32) -> [UInt8] { littleEndian ? u16(UInt16(v & 0xFFFF)) + u16(UInt16(v >> 16)) : u16(UInt16(v >> 16)) + u16(UInt16(v & 0xFFFF)) }
        var bytes: [UInt8] = littleEndian ? [0x49, 0x49] : [0x4D, 0x4D]
        bytes += u16(42) + u32(8)
        bytes += u16(2)                                           // two entries
        bytes += u16(0x010F) + u16(2) + u32(4) + [0x41, 0x42, 0x43, 0]  // Make, ASCII
        bytes += u16(0x0112) + u16(type) + u32(1) + u16(orientation) + [0, 0]
        bytes += u32(0)
        return bytes
    }

    @Test("the parser reads both byte orders", arguments: [true, false])
    func parseByteOrders(littleEndian: Bool) {
        for value in 1...8 {
            #expect(ExifOrientationParser.orientation(tiff: Self.tiff(littleEndian: littleEndian, orientation: UInt16(value)))
                    == Orientation(rawValue: value))
        }
    }

    @Test("malformed or absent values give nil, never a trap")
    func malformed() {
        let good = Self.tiff(littleEndian: true, orientation: 6)
        #expect(ExifOrientationParser.orientation(tiff: good) == .right)
        #expect(ExifOrientationParser.orientation(tiff: Self.tiff(littleEndian: true, orientation: 9)) == nil)
        #expect(ExifOrientationParser.orientation(tiff: Self.tiff(littleEndian: true, orientation: 6, type: 4)) == nil)
        for cut in 0..<good.count - 6 {
            _ = ExifOrientationParser.orientation(tiff: Array(good.prefix(cut)))
        }
        #expect(ExifOrientationParser.orientation(tiff: Array(good.prefix(20))) == nil)
        #expect(ExifOrientationParser.orientation(tiff: [0x49, 0x49, 42, 0, 0xFF, 0xFF, 0xFF, 0x7F]) == nil)
        #expect(ExifOrientationParser.orientation(tiff: []) == nil)
        #expect(Orientation(exifValue: 0) == .up)
    }

    @Test("flattening composites over white and drops alpha")
    func flatten() {
        let rgba = Bitmap(width: 2, height: 1, channels: 4, bytes: [0, 0, 0, 0, 100, 50, 0, 255])
        let flat = rgba.flattened()
        #expect(flat.channels == 3)
        #expect(flat.bytes == [255, 255, 255, 100, 50, 0])
        #expect(rgba.hasTransparency)
        #expect(!flat.hasTransparency)
    }
}
