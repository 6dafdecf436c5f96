import CacheStore
import ImageCodecs

extension StoredFormat {
    /// The stored format of a decoded or encoded image.
    init(_ format: ImageFormat) {
        switch format {
        case .jpeg: self = .jpeg
        case .png: self = .png
        case .webp: self = .webp
        case .avif: self = .avif
        }
    }
}
