import CacheStore
import ImageCore

/// A named thumbnail size the cache keeps for every image (`thumb`, `card`, `large`).
public struct Variant: Hashable, Sendable, Codable {
    public var name: String
    public var spec: ThumbnailSpec
    public var format: OutputFormat
    public var quality: Int

    public init(name: String, spec: ThumbnailSpec, format: OutputFormat = .auto, quality: Int = 80) {
        self.name = name
        self.spec = spec
        self.format = format
        self.quality = quality
    }

    /// The defaults: `thumb` 320x320 inside, `card` 640x360 cover, `large` 1280x1280 inside.
    public static let defaults: [Variant] = [
        Variant(name: "thumb", spec: ThumbnailSpec(box: Size(width: 320, height: 320), fit: .inside)),
        Variant(name: "card", spec: ThumbnailSpec(box: Size(width: 640, height: 360), fit: .cover)),
        Variant(name: "large", spec: ThumbnailSpec(box: Size(width: 1280, height: 1280), fit: .inside)),
    ]

    /// Bumped whenever the pipeline's output for the same input and spec changes.
    public static let pipelineVersion = "1"

    /// The thumbnail key of this variant of the original `digest`: hash(digest, spec, pipeline
    /// version). Also the thumbnail's file name in the cache and in exports.
    public func thumbnailKey(digest: some StringProtocol) -> String {
        BlobStore.digest("\(digest)|\(specText)")
    }

    /// Everything that decides this variant's bytes, as text (part of the thumbnail key).
    public var specText: String {
        "\(name):\(spec.box):\(spec.fit.rawValue):\(format.rawValue):q\(quality):v\(Self.pipelineVersion)"
    }
}
