import Foundation
import ImageCore

/// APNG, the animated PNG browsers show (Debian's libpng reads only its default image): the
/// chunks are walked in bounds-checked Swift, each frame's data is handed to libpng as a PNG of
/// its own (the file's IHDR with the frame's size, its palette and colour chunks, the frame's
/// data as IDAT), and the frames are composited onto the canvas by their dispose and blend
/// operations as the APNG specification and browsers do.
///
/// Every frame's size and place is read and checked before any frame is decoded: inside the
/// canvas, the frame count against `maxFrames`, the sum of frame pixels against
/// `maxAnimationPixels`, the canvas against `maxPixels`.
struct APNG {
    struct Frame {
        var x: Int, y: Int, width: Int, height: Int
        var milliseconds: Int
        /// 0: none, 1: to transparent, 2: to the previous canvas.
        var dispose: UInt8
        /// 0: source (replace), 1: over.
        var blend: UInt8
        /// The zlib data's pieces in the file (IDAT payloads, or fdAT payloads after their sequence number).
        var data: [Range<Int>] = []
    }

    let bytes: Data
    let canvas: Size
    let plays: Int
    let frames: [Frame]
    /// IHDR's 13 bytes.
    let header: Range<Int>
    /// Whole chunks (length, type, data, CRC) every frame's PNG repeats: palette, transparency, colour.
    let shared: [Range<Int>]

    /// The chunks before the first frame that a frame's PNG needs.
    static let sharedTypes: Set<String> = ["PLTE", "tRNS", "gAMA", "cHRM", "sRGB", "iCCP", "cICP", "sBIT"]

    /// The animation in `bytes`, or nil for a PNG without an acTL chunk (a still image).
    static func read(_ bytes: Data, options: DecodeOptions = DecodeOptions()) throws(CodecError) -> APNG? {
        let walked: Result<ChunkWalk, CodecError> = bytes.withUnsafeBytes { raw in
            var walk = ChunkWalk(bytes: raw)
            do throws(CodecError) { try walk.run() } catch { return .failure(error) }
            return .success(walk)
        }
        let walk = try walked.get()
        guard let declared = walk.declaredFrames else { return nil }
        guard walk.frames.count == declared, !walk.frames.isEmpty else {
            throw CodecError(.corrupt, "APNG: acTL declares \(declared) frames, the file has \(walk.frames.count)")
        }
        let apng = APNG(bytes: bytes, canvas: walk.canvas, plays: walk.plays, frames: walk.frames, header: walk.header, shared: walk.shared)
        try apng.check(options)
        return apng
    }

    private func check(_ options: DecodeOptions) throws(CodecError) {
        guard canvas.pixelCount <= options.maxPixels else {
            throw CodecError(.tooManyPixels, "\(canvas) is \(canvas.pixelCount) pixels, over the limit of \(options.maxPixels)")
        }
        guard frames.count <= options.maxFrames else {
            throw CodecError(.limitExceeded, "APNG: \(frames.count) frames, over the limit of \(options.maxFrames)")
        }
        var pixels = 0
        for (index, frame) in frames.enumerated() {
            guard frame.width > 0, frame.height > 0, frame.x + frame.width <= canvas.width, frame.y + frame.height <= canvas.height else {
                throw CodecError(.corrupt, "APNG: frame \(index + 1) (\(frame.width)x\(frame.height) at \(frame.x),\(frame.y)) is outside the \(canvas) canvas")
            }
            guard !frame.data.isEmpty else { throw CodecError(.corrupt, "APNG: frame \(index + 1) has no image data") }
            pixels += frame.width * frame.height
            guard pixels <= options.maxAnimationPixels else {
                throw CodecError(.limitExceeded, "APNG: the frames hold over \(options.maxAnimationPixels) pixels in all")
            }
        }
    }

    /// An animation's frame count, loop count and duration from its chunks (nil for a still PNG or
    /// a damaged one), read in place for the probe.
    static func summary(_ bytes: UnsafeRawBufferPointer) -> (frames: Int, plays: Int, milliseconds: Int)? {
        var walk = ChunkWalk(bytes: bytes)
        guard (try? walk.run()) != nil, let declared = walk.declaredFrames, declared == walk.frames.count, declared > 0 else { return nil }
        return (declared, walk.plays, walk.frames.reduce(0) { $0 + $1.milliseconds })
    }

    /// The bytes of a range the walk found (offsets from the start of the file).
    func slice(_ range: Range<Int>) -> Data { bytes[(bytes.startIndex + range.lowerBound)..<(bytes.startIndex + range.upperBound)] }

    /// Frame `index` decoded alone by libpng, as RGBA.
    func decode(_ index: Int, options: DecodeOptions) throws(CodecError) -> Bitmap {
        let frame = frames[index]
        var png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var ihdr = Data(slice(header))
        ihdr.replaceSubrange(0..<8, with: Self.bigEndian(frame.width) + Self.bigEndian(frame.height))
        Self.append(chunk: "IHDR", ihdr, to: &png)
        for chunk in shared { png.append(slice(chunk)) }
        var data = Data()
        for piece in frame.data { data.append(slice(piece)) }
        Self.append(chunk: "IDAT", data, to: &png)
        Self.append(chunk: "IEND", Data(), to: &png)
        var frameOptions = options
        frameOptions.maxPixels = max(options.maxPixels, frame.width * frame.height)
        let decoded = try ImageDecoder.decode(png, options: frameOptions).bitmap
        guard decoded.size == Size(width: frame.width, height: frame.height) else {
            throw CodecError(.corrupt, "APNG: frame \(index + 1) decodes to \(decoded.size), its fcTL says \(frame.width)x\(frame.height)")
        }
        return Self.rgba(decoded)
    }

    /// 1 to 4 channels widened to RGBA.
    static func rgba(_ bitmap: Bitmap) -> Bitmap {
        guard bitmap.channels != 4 else { return bitmap }
        let count = bitmap.width * bitmap.height
        let storage = PixelStorage(zeroedCount: count * 4)
        let from = bitmap.storage.pointer, to = storage.pointer, channels = bitmap.channels
        for index in 0..<count {
            let at = index * channels
            let gray = channels <= 2
            to[index * 4] = from[at]
            to[index * 4 + 1] = gray ? from[at] : from[at + 1]
            to[index * 4 + 2] = gray ? from[at] : from[at + 2]
            to[index * 4 + 3] = channels == 2 ? from[at + 1] : 255
        }
        return Bitmap(width: bitmap.width, height: bitmap.height, channels: 4, storage: storage)
    }

    static func bigEndian(_ value: Int) -> Data {
        Data([UInt8(truncatingIfNeeded: value >> 24), UInt8(truncatingIfNeeded: value >> 16),
              UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)])
    }

    static func append(chunk type: String, _ data: Data, to png: inout Data) {
        var body = Data(type.utf8)
        body.append(data)
        png.append(bigEndian(data.count))
        png.append(body)
        png.append(bigEndian(Int(CRC32.of(body))))
    }
}

/// PNG's CRC-32 (ISO 3309, the polynomial zlib uses), for the chunks a frame's PNG is built from.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func of(_ data: Data) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}

/// One pass over a PNG's chunks, collecting what APNG needs. Linear in the file.
struct ChunkWalk {
    let bytes: UnsafeRawBufferPointer
    var canvas = Size(width: 0, height: 0)
    var header = 0..<0
    var shared: [Range<Int>] = []
    var declaredFrames: Int?
    var plays = 0
    var frames: [APNG.Frame] = []
    private var sawData = false

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    func u32(_ at: Int) throws(CodecError) -> Int {
        guard at >= 0, at + 4 <= bytes.count else { throw CodecError(.truncated, "APNG: the data ends inside a chunk") }
        return Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
    }

    func u16(_ at: Int) throws(CodecError) -> Int {
        guard at >= 0, at + 2 <= bytes.count else { throw CodecError(.truncated, "APNG: the data ends inside a chunk") }
        return Int(bytes[at]) << 8 | Int(bytes[at + 1])
    }

    mutating func run() throws(CodecError) {
        var at = 8
        while at + 8 <= bytes.count {
            let length = try u32(at)
            let type = String(decoding: bytes[(at + 4)..<(at + 8)], as: UTF8.self)
            let data = (at + 8)..<(at + 8 + length)
            guard length <= bytes.count, data.upperBound + 4 <= bytes.count else {
                throw CodecError(.truncated, "APNG: the \(type) chunk at byte \(at) runs past the end of the file")
            }
            try take(type, data: data, chunk: at..<(data.upperBound + 4))
            if type == "IEND" { return }
            at = data.upperBound + 4
        }
    }

    private mutating func take(_ type: String, data: Range<Int>, chunk: Range<Int>) throws(CodecError) {
        switch type {
        case "IHDR" where data.count == 13:
            header = data
            canvas = Size(width: try u32(data.lowerBound), height: try u32(data.lowerBound + 4))
        case "acTL" where data.count == 8:
            declaredFrames = try u32(data.lowerBound)
            plays = try u32(data.lowerBound + 4)
        case "fcTL" where data.count == 26:
            // sequence, width, height, x, y (4 bytes each), delay numerator and denominator (2 each), dispose, blend.
            let d = data.lowerBound
            let numerator = try u16(d + 20), denominator = try u16(d + 22)
            let milliseconds = numerator * 1000 / (denominator == 0 ? 100 : denominator)
            frames.append(APNG.Frame(x: try u32(d + 12), y: try u32(d + 16), width: try u32(d + 4), height: try u32(d + 8),
                                     milliseconds: milliseconds <= 10 ? 100 : milliseconds,  // as browsers show short delays
                                     dispose: bytes[d + 24], blend: bytes[d + 25]))
        case "IDAT":
            sawData = true
            // The default image is the first frame only when its fcTL came before it.
            if frames.count == 1 { frames[0].data.append(data) }
        case "fdAT" where data.count > 4:
            guard !frames.isEmpty else { throw CodecError(.corrupt, "APNG: frame data before any fcTL") }
            frames[frames.count - 1].data.append((data.lowerBound + 4)..<data.upperBound)
        default:
            if !sawData && APNG.sharedTypes.contains(type) { shared.append(chunk) }
        }
    }
}

/// APNG frames composited on an RGBA canvas: a frame is drawn by its blend operation (replace
/// or over), then, before the next, its area is disposed of (left, cleared to transparent, or
/// put back as it was before the frame; "previous" on the first frame means clear).
final class APNGFrames: FrameReader {
    private let apng: APNG
    private let options: DecodeOptions
    private let canvas: PixelStorage
    private var index = 0
    /// The last frame drawn and, for "previous" disposal, the canvas before it.
    private var pending: (frame: APNG.Frame, before: PixelStorage?)?

    var size: Size { apng.canvas }

    init(_ apng: APNG, options: DecodeOptions) {
        self.apng = apng
        self.options = options
        canvas = PixelStorage(zeroedCount: apng.canvas.pixelCount * 4)
    }

    func next() throws(CodecError) -> (bitmap: Bitmap, milliseconds: Int)? {
        guard index < apng.frames.count else { return nil }
        if let (frame, before) = pending { dispose(frame, before: before) }
        var frame = apng.frames[index]
        if index == 0 && frame.dispose == 2 { frame.dispose = 1 }
        var before: PixelStorage?
        if frame.dispose == 2 {
            let copy = PixelStorage(zeroedCount: canvas.count)
            copy.pointer.update(from: canvas.pointer, count: canvas.count)
            before = copy
        }
        draw(try apng.decode(index, options: options), frame: frame)
        pending = (frame, before)
        index += 1
        let shown = PixelStorage(zeroedCount: canvas.count)
        shown.pointer.update(from: canvas.pointer, count: canvas.count)
        return (Bitmap(width: size.width, height: size.height, channels: 4, storage: shown), frame.milliseconds)
    }

    private func draw(_ pixels: Bitmap, frame: APNG.Frame) {
        let source = pixels.storage.pointer, target = canvas.pointer
        for row in 0..<frame.height {
            for column in 0..<frame.width {
                let from = (row * frame.width + column) * 4, to = ((frame.y + row) * size.width + frame.x + column) * 4
                let alpha = Int(source[from + 3])
                if frame.blend == 0 || alpha == 255 {
                    for c in 0..<4 { target[to + c] = source[from + c] }
                    continue
                }
                guard alpha > 0 else { continue }
                // Straight-alpha "over": out = src * a + dst * da * (1 - a), divided by the new alpha.
                let below = Int(target[to + 3]) * (255 - alpha) / 255
                let out = alpha + below
                for c in 0..<3 {
                    target[to + c] = UInt8((Int(source[from + c]) * alpha + Int(target[to + c]) * below + out / 2) / out)
                }
                target[to + 3] = UInt8(out)
            }
        }
    }

    private func dispose(_ frame: APNG.Frame, before: PixelStorage?) {
        guard frame.dispose != 0 else { return }
        for row in frame.y..<(frame.y + frame.height) {
            let at = (row * size.width + frame.x) * 4, count = frame.width * 4
            if let before { (canvas.pointer + at).update(from: before.pointer + at, count: count) } else { (canvas.pointer + at).update(repeating: 0, count: count) }
        }
    }
}
