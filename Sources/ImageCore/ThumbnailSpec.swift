/// How a thumbnail fills its box.
public enum FitMode: String, Sendable, CaseIterable, Codable {
    /// The whole image inside the box; one side touches it.
    case inside
    /// The box filled completely; the overflow is cropped (where `Gravity` says).
    case cover
    /// The box filled exactly, each axis scaled on its own (the aspect ratio is not kept).
    case fill
}

/// Which part of the image a `cover` crop keeps.
public enum Gravity: Hashable, Sendable, Codable {
    /// The middle.
    case center
    /// What draws the eye: edges, skin tones and saturated colour (libvips's `attention`).
    case attention
    /// The busiest part: the crop with the most luminance entropy (libvips's `entropy`).
    case entropy
    /// A focal point, as fractions (0...1) of the displayed image's width and height; the crop
    /// is centred on it as far as the image allows.
    case focus(x: Double, y: Double)

    /// Whether choosing the crop needs the pixels (attention, entropy) rather than the size alone.
    public var needsPixels: Bool { self == .attention || self == .entropy }
}

/// What thumbnail to make: a box, a fit mode and, for `cover`, where to crop. Never upscales.
public struct ThumbnailSpec: Hashable, Sendable, Codable {
    public var box: Size
    public var fit: FitMode
    public var gravity: Gravity

    public init(box: Size, fit: FitMode = .inside, gravity: Gravity = .center) {
        precondition(box.width > 0 && box.height > 0, "a thumbnail box needs a positive size")
        self.box = box
        self.fit = fit
        self.gravity = gravity
    }

    public static let `default` = ThumbnailSpec(box: Size(width: 320, height: 320), fit: .inside)
}
