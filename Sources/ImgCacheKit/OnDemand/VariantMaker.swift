import CacheStore
import Foundation
import ImageCodecs
import ImageCore

/// Renders on-demand variants from cached originals and keeps them in the cache: the file in
/// the blob store like any thumbnail, the row (original, canonical options, format) → file in
/// the index. Synchronous and CPU-bound: the server runs it on its render workers.
public struct VariantMaker: Sendable {
    public let store: any BlobStorage
    public let index: any IndexStorage
    public let configuration: Configuration

    public init(store: any BlobStorage, index: any IndexStorage, configuration: Configuration) {
        self.store = store
        self.index = index
        self.configuration = configuration
    }

    /// The quality `format` is written at when a URL gives no `q`.
    public static func defaultQuality(_ format: OutputFormat) -> Int { Variant.Quality().value(for: format) }

    /// The rendition of `options` (canonical) in `format`: its key names the file.
    public static func rendition(_ options: VariantOptions, format: OutputFormat) -> Rendition {
        Rendition(variant: options.description, spec: options.spec, format: format,
                  quality: options.quality ?? defaultQuality(format))
    }

    /// Makes (or finds) `rendition` of the original `digest`. Refused (`.tooLarge`) before
    /// decoding when the header says the result would have more than `onDemand.maxPixels`.
    public func make(digest: String, rendition: Rendition) throws(VariantFailure) -> VariantMade {
        let key = rendition.thumbnailKey(digest: digest)
        let options = configuration.options(for: rendition)
        let maxPixels = configuration.onDemand.maxPixels
        var failure: VariantFailure?
        do throws(CacheError) {
            return try index.makeVariant(key: key, digest: digest) { [store] in
                let original = try store.get(.original(digest))
                let info: ImageInfo, thumbnail: Thumbnail
                do throws(CodecError) { info = try ImageDecoder.probe(original) } catch { failure = .image(error); throw error }
                let size = ThumbnailGeometry.plan(source: info.size, orientation: info.orientation, spec: options.spec).orientedSize
                guard size.pixelCount <= maxPixels else {
                    let refusal = VariantFailure.tooLarge("\(rendition.variant) of this image is \(size), more than the \(maxPixels) pixels a variant may have")
                    failure = refusal
                    throw refusal
                }
                do throws(CodecError) {
                    thumbnail = try Thumbnailer.makeThumbnail(from: original, options: options)
                } catch {
                    failure = .image(error)
                    throw error
                }
                let record = ThumbnailRecord(key: key, digest: digest, variant: rendition.variant, width: thumbnail.size.width,
                                             height: thumbnail.size.height, format: thumbnail.format, bytes: thumbnail.data.count,
                                             sha256: BlobStore.digest(thumbnail.data))
                return RenderedVariant(record: record) { try store.put(thumbnail.data, as: record.blobKey) }
            }
        } catch {
            throw failure ?? .cache(error)
        }
    }
}

/// Why an on-demand variant could not be made.
public enum VariantFailure: Error, Sendable, CustomStringConvertible {
    /// The original cannot be made into it (decoding or encoding failed): the same request
    /// would fail again.
    case image(CodecError)
    /// The index or the store failed: another try may work.
    case cache(CacheError)
    /// The result would be larger than the limit (known from the original's header).
    case tooLarge(String)

    public var description: String {
        switch self {
        case .image(let error): "the image cannot be rendered: \(error)"
        case .cache(let error): "\(error)"
        case .tooLarge(let message): message
        }
    }
}
