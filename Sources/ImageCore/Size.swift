/// A size in whole pixels.
public struct Size: Hashable, Sendable, Codable, CustomStringConvertible {
    public var width: Int
    public var height: Int

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    public var pixelCount: Int { width * height }
    public var transposed: Size { Size(width: height, height: width) }
    public var description: String { "\(width)x\(height)" }

    /// Parses "320x200" (or "320" for a square).
    public init?(parsing text: String) {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count),
              let width = Int(parts[0]), let height = Int(parts.count == 2 ? parts[1] : parts[0]),
              width > 0, height > 0 else { return nil }
        self.init(width: width, height: height)
    }
}

/// A rectangle in (possibly fractional) pixel coordinates.
public struct Region: Hashable, Sendable {
    public var x: Double
    public var y: Double
    public var width: Double
    public var height: Double

    public init(x: Double, y: Double, width: Double, height: Double) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    public init(size: Size) {
        self.init(x: 0, y: 0, width: Double(size.width), height: Double(size.height))
    }

    public func scaled(x sx: Double, y sy: Double) -> Region {
        Region(x: x * sx, y: y * sy, width: width * sx, height: height * sy)
    }
}
