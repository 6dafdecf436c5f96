import Foundation

/// A variant made on request (`/v/…`): a thumbnail row like a configured variant's, whose
/// `variant` is its canonical options (`w:480,fit:cover`), so prune, verify and the replica
/// cache treat it as any other thumbnail; it goes with its original.
public enum OnDemandVariant {
    /// Whether a thumbnail row's variant is an on-demand one (its name holds a colon; a
    /// configured variant's name never does).
    public static func isOnDemand(_ variant: String) -> Bool { variant.contains(":") }
}

/// What `makeVariant` found or did.
public enum VariantMade: Sendable {
    /// Rendered now and recorded.
    case made(ThumbnailRecord)
    /// Already there (made earlier, or by another request or replica while this one waited).
    case existing(ThumbnailRecord)
    /// The original is no longer cached (pruned): nothing was written.
    case originalGone
}

/// The render of an on-demand variant, ready to be stored: its row, and how to write its file.
public struct RenderedVariant {
    public var record: ThumbnailRecord
    public var writeFile: () throws -> Void

    public init(record: ThumbnailRecord, writeFile: @escaping () throws -> Void) {
        self.record = record
        self.writeFile = writeFile
    }
}

public protocol OnDemandStorage {
    /// Makes the on-demand variant `key` of the original `digest` once: its row when one
    /// exists; else `render` makes it, its file is written under the removal lock and its row
    /// recorded, unless the original is gone by then. Where the index is shared (PostgreSQL),
    /// a claim on `key` is held while rendering: replicas asked for the same new variant at
    /// once render it once, and the others get `.existing`.
    func makeVariant(key: String, digest: String, render: () throws -> RenderedVariant) throws(CacheError) -> VariantMade
}
