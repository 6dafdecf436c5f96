import Foundation
internal import CImageCodecs

/// ICO and CUR: the directory's largest entry (by its declared size, then bit depth), read as
/// the PNG or the BMP device-independent bitmap it holds. The entry's own header decides the
/// size (a directory's bytes can lie); an entry outside the file is an error naming it.
enum ICOCodec: SwiftCodec {
    /// The chosen entry's bytes and what they are.
    struct Entry {
        var index: Int
        var bytes: LittleEndian
        var isPNG: Bool { ImageFormat.png.entry.sniff(bytes.bytes) }
    }

    static func probe(_ bytes: UnsafeRawBufferPointer) throws(CodecError) -> ic_info {
        let entry = try largestEntry(LittleEndian(bytes))
        if entry.isPNG { return try ImageFormat.png.codec.probe(entry.bytes.bytes) }
        return BMPCodec.info(try BMPCodec.dibHeader(entry.bytes, at: 0, heightIsDoubled: true))
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, options: ic_decode_options) throws(CodecError) -> (ic_info, ic_image, String?) {
        let entry = try largestEntry(LittleEndian(bytes))
        if entry.isPNG {
            let (info, image, status) = try ImageFormat.png.codec.decode(entry.bytes.bytes, options)
            return (info, image, status.warnings > 0 ? ImageDecoder.string(from: status.first_warning) : nil)
        }
        let header = try BMPCodec.dibHeader(entry.bytes, at: 0, heightIsDoubled: true)
        let (image, warning) = try BMPCodec.pixels(entry.bytes, header: header, options: options, andMask: true)
        return (BMPCodec.info(header), image, warning)
    }

    /// The directory's entries (16 bytes each after the 6-byte header); the largest one's bytes.
    static func largestEntry(_ data: LittleEndian) throws(CodecError) -> Entry {
        let count = Int(try data.u16(4))
        guard count > 0 else { throw CodecError(.corrupt, "ICO: the directory lists no image") }
        var best: (index: Int, area: Int, bits: Int, offset: Int, size: Int)?
        for index in 0..<count {
            let at = 6 + index * 16
            guard at + 16 <= data.count else { throw CodecError(.truncated, "ICO: the file ends inside its directory of \(count) images") }
            let width = Int(data[at]) == 0 ? 256 : Int(data[at]), height = Int(data[at + 1]) == 0 ? 256 : Int(data[at + 1])
            let bits = Int(try data.u16(at + 6)), size = Int(try data.u32(at + 8)), offset = Int(try data.u32(at + 12))
            if let current = best, (width * height, bits) <= (current.area, current.bits) { continue }
            best = (index, width * height, bits, offset, size)
        }
        guard let best else { throw CodecError(.corrupt, "ICO: no image") }
        guard best.size > 0, best.offset >= 6 + count * 16, best.offset < data.count else {
            throw CodecError(best.offset >= data.count ? .truncated : .corrupt,
                             "ICO: image \(best.index + 1)'s \(best.size) bytes at \(best.offset) are outside the file's \(data.count) bytes")
        }
        return Entry(index: best.index, bytes: data.slice(best.offset, best.size))
    }
}
