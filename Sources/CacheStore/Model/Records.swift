@_exported import ImageFormats
import Foundation
import GRDB

/// What the index knows about one source URL.
public struct SourceRecord: Codable, Hashable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "sources"
    public var url: String
    /// SHA-256 of the original currently cached for it (nil before the first success).
    public var digest: String?
    public var etag: String?
    public var lastModified: String?
    public var fetchedAt: Date?
    /// Until when the original may be used without asking the origin.
    public var expiresAt: Date?
    public var declaredWidth: Int?
    public var declaredHeight: Int?
    public var decodedWidth: Int?
    public var decodedHeight: Int?
    public var status: SourceStatus
    public var lastError: String?
    /// Why the last attempt failed (with `status` failed), as the enum it was recorded as.
    public var failureKind: FailureKind?
    public var isCached: Bool
    public var updatedAt: Date
    /// When a sync last found the URL in a seed document (prune's "referenced" time).
    public var referencedAt: Date?

    public init(url: String, status: SourceStatus = .pending, updatedAt: Date = Date()) {
        self.url = url
        self.status = status
        self.isCached = false
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case url, digest, etag, status
        case lastModified = "last_modified", fetchedAt = "fetched_at", expiresAt = "expires_at"
        case declaredWidth = "declared_width", declaredHeight = "declared_height"
        case decodedWidth = "decoded_width", decodedHeight = "decoded_height"
        case lastError = "last_error", failureKind = "failure_kind", isCached = "is_cached", updatedAt = "updated_at", referencedAt = "referenced_at"
    }
}

/// An original image, stored once per digest.
public struct ObjectRecord: Codable, Hashable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "objects"
    public var digest: String
    public var bytes: Int
    public var format: StoredFormat
    public var width: Int
    public var height: Int
    public var createdAt: Date
    /// BlurHash of the image, computed once when its thumbnails are made.
    public var blurHash: String?
    /// Dominant colour, "#rrggbb".
    public var dominantColor: String?
    /// The colour profile the original carried, as decoded ("Display P3 (converted to sRGB)");
    /// nil for an image without one (taken as sRGB).
    public var colorProfile: String?
    /// An animation's frame count and total duration in milliseconds; nil for a still image.
    public var frames: Int?
    public var durationMilliseconds: Int?

    public init(digest: String, bytes: Int, format: StoredFormat, width: Int, height: Int, createdAt: Date = Date(),
                blurHash: String? = nil, dominantColor: String? = nil, colorProfile: String? = nil,
                frames: Int? = nil, durationMilliseconds: Int? = nil) {
        self.colorProfile = colorProfile
        self.frames = frames
        self.durationMilliseconds = durationMilliseconds
        self.digest = digest
        self.bytes = bytes
        self.format = format
        self.width = width
        self.height = height
        self.createdAt = createdAt
        self.blurHash = blurHash
        self.dominantColor = dominantColor
    }

    enum CodingKeys: String, CodingKey {
        case digest, bytes, format, width, height
        case createdAt = "created_at", blurHash = "blurhash", dominantColor = "dominant_color", colorProfile = "color_profile"
        case frames, durationMilliseconds = "duration_ms"
    }
}

/// A thumbnail of an original for one variant.
public struct ThumbnailRecord: Codable, Hashable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "thumbnails"
    /// hash(source digest, variant spec, pipeline version): also the file name.
    public var key: String
    public var digest: String
    public var variant: String
    public var width: Int
    public var height: Int
    public var format: StoredFormat
    public var bytes: Int
    public var createdAt: Date
    /// SHA-256 of the file's bytes, recorded when it was written (nil for rows from before v5).
    public var sha256: String?

    public init(key: String, digest: String, variant: String, width: Int, height: Int, format: StoredFormat, bytes: Int,
                createdAt: Date = Date(), sha256: String? = nil) {
        self.sha256 = sha256
        self.key = key
        self.digest = digest
        self.variant = variant
        self.width = width
        self.height = height
        self.format = format
        self.bytes = bytes
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case key, digest, variant, width, height, format, bytes, sha256
        case createdAt = "created_at"
    }
}

extension ThumbnailRecord {
    public var fileExtension: String { format.fileExtension }
    /// Where its file is in a blob store.
    public var blobKey: BlobKey { .thumbnail(key, fileExtension: format.fileExtension) }
}

extension ObjectRecord {
    public var fileExtension: String { format.fileExtension }
    public var blobKey: BlobKey { .original(digest) }
}

/// Where a URL stands in the index.
public enum SourceStatus: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
    /// Named by a seed, not fetched yet (or removed by `verify --repair`: fetched again next sync).
    case pending
    /// Its original and thumbnails were recorded.
    case ok
    /// The last attempt failed (`lastError` says why); an earlier copy may still serve.
    case failed
    /// Its image was removed by prune.
    case pruned
}

/// The format of a stored file (an original or a thumbnail): a row of the format table.
public typealias StoredFormat = ImageFormat

extension ImageFormat: DatabaseValueConvertible {}
