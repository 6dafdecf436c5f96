import Foundation
import ImageCore
internal import CImageCodecs

/// An animation's frames (GIF, WebP, APNG), each composited onto its canvas as browsers show it,
/// one at a time: memory is a canvas or two, whatever the frame count; the limits of
/// `DecodeOptions` (pixels, frames, frame pixels in all) are checked before and while the file is read.
public final class AnimationFrames {
    private let reader: any FrameReader
    public var size: Size { reader.size }

    /// Whether the frames of `format` can be read one by one (the formats an animated WebP is made from).
    public static func reads(_ format: ImageFormat) -> Bool { format == .gif || format == .webp || format == .png }

    public init(_ data: Data, options: DecodeOptions = DecodeOptions()) throws(CodecError) {
        let format = data.withUnsafeBytes { ImageFormat.sniff($0) }
        switch format {
        case let still? where still == .gif || still == .webp: reader = try CFrames(data, format: still, options: options)
        case .png?:
            guard let apng = try APNG.read(data, options: options) else { throw CodecError(.unsupported, "a PNG without an acTL chunk is not animated") }
            reader = APNGFrames(apng, options: options)
        default: throw CodecError(.unsupported, "only GIF, WebP and APNG animations are read frame by frame")
        }
    }

    /// The next frame as shown (RGBA, the canvas's size) and how long it shows, or nil after the last.
    public func next() throws(CodecError) -> (bitmap: Bitmap, milliseconds: Int)? { try reader.next() }
}

/// One format's frames, composited.
protocol FrameReader: AnyObject {
    var size: Size { get }
    func next() throws(CodecError) -> (bitmap: Bitmap, milliseconds: Int)?
}

/// GIF and WebP frames through the C shim's iterators (giflib's records, libwebp's WebPAnimDecoder).
final class CFrames: FrameReader {
    /// The C iterator of one format: open, next, close.
    private struct Reader {
        var next: (OpaquePointer, UnsafeMutablePointer<UnsafePointer<UInt8>?>, UnsafeMutablePointer<Int32>,
                   UnsafeMutablePointer<ic_status>) -> Int32
        var close: (OpaquePointer) -> Void
    }

    private let handle: OpaquePointer
    private let reader: Reader
    /// The file's bytes, pinned for the C reader (which keeps a pointer into them).
    private let bytes: UnsafeMutableRawBufferPointer
    let size: Size

    init(_ data: Data, format: ImageFormat, options: DecodeOptions) throws(CodecError) {
        bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, data.count), alignment: 1)
        data.copyBytes(to: bytes)
        var cOptions = ImageDecoder.cOptions(options)
        var info = ic_info()
        var status = ic_status()
        let base = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let opened: OpaquePointer?
        if format == .gif {
            opened = ic_gif_frames_open(base, data.count, &cOptions, &info, &status)
            reader = Reader(next: { ic_gif_frames_next($0, $1, $2, $3) }, close: { ic_gif_frames_close($0) })
        } else {
            opened = ic_webp_frames_open(base, data.count, &cOptions, &info, &status)
            reader = Reader(next: { ic_webp_frames_next($0, $1, $2, $3) }, close: { ic_webp_frames_close($0) })
        }
        guard let opened else {
            bytes.deallocate()
            throw CodecError(ImageDecoder.errorCode(Int32(status.code)), ImageDecoder.string(from: status.message))
        }
        handle = opened
        size = Size(width: Int(info.width), height: Int(info.height))
    }

    deinit {
        reader.close(handle)
        bytes.deallocate()
    }

    func next() throws(CodecError) -> (bitmap: Bitmap, milliseconds: Int)? {
        var pixels: UnsafePointer<UInt8>?
        var delay: Int32 = 0
        var status = ic_status()
        let code = reader.next(handle, &pixels, &delay, &status)
        if code == Int32(IC_END) { return nil }
        guard code == Int32(IC_OK), let pixels else {
            throw CodecError(ImageDecoder.errorCode(code), ImageDecoder.string(from: status.message))
        }
        let count = size.width * size.height * 4
        let storage = PixelStorage(zeroedCount: count)
        storage.pointer.update(from: pixels, count: count)
        return (Bitmap(width: size.width, height: size.height, channels: 4, storage: storage), Int(delay))
    }
}

/// An animated WebP, written frame by frame (libwebp's WebPAnimEncoder).
public final class AnimatedWebPEncoder {
    private let handle: OpaquePointer
    public let size: Size

    public init(size: Size, loopCount: Int, quality: Int, method: Int = 4) throws(CodecError) {
        guard (1...100).contains(quality), (0...6).contains(method) else {
            throw CodecError(.invalidArgument, "WebP quality must be 1...100 and method 0...6")
        }
        var status = ic_status()
        guard let handle = ic_webp_anim_new(UInt32(size.width), UInt32(size.height), Int32(clamping: loopCount),
                                            Int32(quality), Int32(method), &status) else {
            throw CodecError(ImageDecoder.errorCode(Int32(status.code)), ImageDecoder.string(from: status.message))
        }
        self.handle = handle
        self.size = size
    }

    deinit { ic_webp_anim_free(handle) }

    /// Adds a frame (RGBA, the encoder's size) shown from `milliseconds`.
    public func add(_ bitmap: Bitmap, at milliseconds: Int) throws(CodecError) {
        guard bitmap.size == size else { throw CodecError(.invalidArgument, "a frame of \(bitmap.size) in a \(size) animation") }
        guard bitmap.channels == 4 else { throw CodecError(.invalidArgument, "animation frames are RGBA, not \(bitmap.channels) channels") }
        var status = ic_status()
        let code = ic_webp_anim_add(handle, bitmap.storage.pointer, Int32(clamping: milliseconds), &status)
        guard code == Int32(IC_OK) else { throw CodecError(ImageDecoder.errorCode(code), ImageDecoder.string(from: status.message)) }
    }

    /// The file, the last frame ending at `milliseconds`.
    public func finish(at milliseconds: Int) throws(CodecError) -> Data {
        var buffer = ic_buffer()
        var status = ic_status()
        let code = ic_webp_anim_finish(handle, Int32(clamping: milliseconds), &buffer, &status)
        guard code == Int32(IC_OK), let bytes = buffer.bytes else {
            free(buffer.bytes)
            throw CodecError(ImageDecoder.errorCode(code), ImageDecoder.string(from: status.message))
        }
        defer { free(bytes) }
        return Data(bytes: bytes, count: buffer.size)
    }
}
