/// How a thumbnail fills its box.
public enum FitMode: String, Sendable, CaseIterable, Codable {
    /// The whole image inside the box; one side touches it.
    case inside
    /// The box filled completely; the overflow is cropped from the centre.
    case cover
}

/// What thumbnail to make: a box and a fit mode. Never upscales.
public struct ThumbnailSpec: Hashable, Sendable, Codable {
    public var box: Size
    public var fit: FitMode

    public init(box: Size, fit: FitMode = .inside) {
        precondition(box.width > 0 && box.height > 0, "a thumbnail box needs a positive size")
        self.box = box
        self.fit = fit
    }

    public static let `default` = ThumbnailSpec(box: Size(width: 320, height: 320), fit: .inside)
}
