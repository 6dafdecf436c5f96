#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An 8-bit image: rows top to bottom, `channels` interleaved samples per pixel, no row padding.
///
/// Channel layouts: 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA (alpha last, not premultiplied).
/// The pixels live in a `PixelStorage` allocated with `malloc`, so a buffer decoded by the
/// C shim is adopted without a copy.
public struct Bitmap: Sendable {
    public let width: Int
    public let height: Int
    public let channels: Int
    public let storage: PixelStorage

    /// A bitmap of the given size with every sample zero.
    public init(width: Int, height: Int, channels: Int) {
        precondition(width > 0 && height > 0 && (1...4).contains(channels), "invalid bitmap shape")
        self.width = width
        self.height = height
        self.channels = channels
        self.storage = PixelStorage(zeroedCount: width * height * channels)
    }

    /// Wraps existing storage, which must hold exactly `width * height * channels` bytes.
    public init(width: Int, height: Int, channels: Int, storage: PixelStorage) {
        precondition(storage.count == width * height * channels, "storage does not match the bitmap's shape")
        self.width = width
        self.height = height
        self.channels = channels
        self.storage = storage
    }

    /// Copies `bytes` into a new bitmap.
    public init(width: Int, height: Int, channels: Int, bytes: [UInt8]) {
        self.init(width: width, height: height, channels: channels)
        precondition(bytes.count == width * height * channels, "byte count does not match the bitmap's shape")
        bytes.withUnsafeBufferPointer { source in
            storage.pointer.update(from: source.baseAddress!, count: source.count)
        }
    }

    public var size: Size { Size(width: width, height: height) }
    public var rowBytes: Int { width * channels }
    public var hasAlphaChannel: Bool { channels == 2 || channels == 4 }

    /// All samples as an array (a copy), for tests and small images.
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: storage.pointer, count: storage.count)) }

    /// The samples of the pixel at (x, y).
    public func pixel(x: Int, y: Int) -> [UInt8] {
        precondition(x >= 0 && x < width && y >= 0 && y < height, "pixel out of bounds")
        let offset = (y * width + x) * channels
        return Array(UnsafeBufferPointer(start: storage.pointer + offset, count: channels))
    }

    /// True when some pixel is not fully opaque.
    public var hasTransparency: Bool {
        guard hasAlphaChannel else { return false }
        let pointer = storage.pointer
        var index = channels - 1
        let count = storage.count
        while index < count {
            if pointer[index] != 255 { return true }
            index += channels
        }
        return false
    }
}

/// Owns a `malloc`ed pixel buffer and frees it when the last bitmap using it goes away.
/// Bitmaps never write to storage after construction, so sharing it across threads is safe.
public final class PixelStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<UInt8>
    public let count: Int

    /// Adopts a buffer allocated with `malloc` (for example by the C decoders).
    public init(adoptingMallocBuffer pointer: UnsafeMutablePointer<UInt8>, count: Int) {
        self.pointer = pointer
        self.count = count
    }

    public init(zeroedCount count: Int) {
        guard let raw = calloc(max(count, 1), 1) else { fatalError("out of memory allocating \(count) bytes") }
        self.pointer = raw.assumingMemoryBound(to: UInt8.self)
        self.count = count
    }

    deinit { free(pointer) }
}
