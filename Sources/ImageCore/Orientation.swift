/// EXIF orientation (tag 0x0112): how the stored pixels must be turned to be shown upright.
public enum Orientation: Int, Sendable, CaseIterable, Codable {
    case up = 1, upMirrored = 2, down = 3, downMirrored = 4
    case leftMirrored = 5, right = 6, rightMirrored = 7, left = 8

    /// Values outside 1...8 (including the common 0) mean "no rotation".
    public init(exifValue: Int) {
        self = Orientation(rawValue: exifValue) ?? .up
    }

    /// Orientations 5 to 8 swap width and height.
    public var swapsDimensions: Bool { rawValue >= 5 }

    public func orientedSize(_ size: Size) -> Size { swapsDimensions ? size.transposed : size }

    /// A point of the displayed image, as fractions (0...1) of its width and height, in the
    /// stored image's fractions (the inverse of `applying`).
    public func storedPoint(x: Double, y: Double) -> (x: Double, y: Double) {
        switch self {
        case .up: (x, y)
        case .upMirrored: (1 - x, y)
        case .down: (1 - x, 1 - y)
        case .downMirrored: (x, 1 - y)
        case .leftMirrored: (y, x)
        case .right: (y, 1 - x)
        case .rightMirrored: (1 - y, 1 - x)
        case .left: (1 - y, x)
        }
    }
}

extension Bitmap {
    /// This bitmap turned upright for display.
    public func applying(_ orientation: Orientation) -> Bitmap {
        if orientation == .up { return self }
        let w = width, h = height, ch = channels
        let out = Bitmap(width: orientation.swapsDimensions ? h : w,
                         height: orientation.swapsDimensions ? w : h, channels: ch)
        let src = storage.pointer, dst = out.storage.pointer
        // For each output row: the source pixel index of its first pixel, and the step per pixel.
        let rowStart: (Int) -> Int
        let step: Int
        switch orientation {
        case .up: rowStart = { $0 * w }; step = 1
        case .upMirrored: rowStart = { $0 * w + w - 1 }; step = -1
        case .down: rowStart = { (h - 1 - $0) * w + w - 1 }; step = -1
        case .downMirrored: rowStart = { (h - 1 - $0) * w }; step = 1
        case .leftMirrored: rowStart = { $0 }; step = w
        case .right: rowStart = { (h - 1) * w + $0 }; step = -w
        case .rightMirrored: rowStart = { (h - 1) * w + w - 1 - $0 }; step = -w
        case .left: rowStart = { w - 1 - $0 }; step = w
        }
        var o = 0
        for y in 0..<out.height {
            var s = rowStart(y)
            for _ in 0..<out.width {
                for c in 0..<ch { dst[o + c] = src[s * ch + c] }
                o += ch
                s += step
            }
        }
        return out
    }
}
