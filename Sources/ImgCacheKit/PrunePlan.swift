import CacheStore
import Foundation

/// What to remove.
public struct PrunePolicy: Hashable, Sendable {
    /// Evict least recently used images until the cache is at most this many bytes.
    public var maxBytes: Int?
    /// Remove images neither written, referenced nor served for longer than this.
    public var maxAge: TimeInterval?
    /// Remove images no seed references (their `isReferenced` is false).
    public var removeUnreferenced: Bool
    /// Nothing used within this long is removed, whatever the other rules say.
    public var grace: TimeInterval

    public static let defaultGrace: TimeInterval = 3600

    public init(maxBytes: Int? = nil, maxAge: TimeInterval? = nil, removeUnreferenced: Bool = false,
                grace: TimeInterval = PrunePolicy.defaultGrace) {
        self.maxBytes = maxBytes
        self.maxAge = maxAge
        self.removeUnreferenced = removeUnreferenced
        self.grace = grace
    }

    public var removesAnything: Bool { maxBytes != nil || maxAge != nil || removeUnreferenced }
}

/// The decision, before anything is touched: a pure function of the images, the policy and
/// the time, so `--dry-run` prints exactly what a real run does, and properties can be tested
/// over many random caches.
public struct PrunePlan: Codable, Hashable, Sendable {
    public enum Reason: String, Codable, Sendable, CaseIterable {
        case unreferenced
        case maxAge = "max-age"
        case maxSize = "max-size"
    }

    public struct Removal: Codable, Hashable, Sendable {
        public var digest: String
        public var bytes: Int
        public var reason: Reason
        public var lastUsed: Date
    }

    /// In the order chosen: unreferenced and expired images oldest first, then by least recent use.
    public var removals: [Removal] = []
    public var imagesBefore = 0
    public var bytesBefore = 0
    public var bytesAfter = 0
    /// Images a rule would have removed but that were used within the grace period.
    public var keptInGrace = 0
    /// How far above `maxBytes` the cache stays because the rest is within the grace period.
    public var overMaxBytes = 0

    public var bytesReclaimed: Int { bytesBefore - bytesAfter }

    public static func make(images: [PruneImage], policy: PrunePolicy, now: Date) -> PrunePlan {
        var plan = PrunePlan()
        plan.imagesBefore = images.count
        plan.bytesBefore = images.reduce(0) { $0 + $1.bytes }
        // Least recently used first; the digest breaks ties so the plan is deterministic.
        let ordered = images.sorted { a, b in
            let (ua, ub) = (a.lastUsed, b.lastUsed)
            return ua != ub ? ua < ub : a.digest < b.digest
        }
        func inGrace(_ image: PruneImage) -> Bool { now.timeIntervalSince(image.lastUsed) < policy.grace }

        var remaining = plan.bytesBefore
        var kept: [PruneImage] = []
        kept.reserveCapacity(ordered.count)
        for image in ordered {
            let reason: Reason?
            if policy.removeUnreferenced && !image.isReferenced {
                reason = .unreferenced
            } else if let maxAge = policy.maxAge, now.timeIntervalSince(image.lastUsed) > maxAge {
                reason = .maxAge
            } else {
                reason = nil
            }
            if let reason, !inGrace(image) {
                plan.removals.append(Removal(digest: image.digest, bytes: image.bytes, reason: reason, lastUsed: image.lastUsed))
                remaining -= image.bytes
            } else {
                if reason != nil { plan.keptInGrace += 1 }
                kept.append(image)
            }
        }
        if let maxBytes = policy.maxBytes {
            for image in kept where remaining > maxBytes {
                if inGrace(image) {
                    plan.keptInGrace += 1
                    continue
                }
                plan.removals.append(Removal(digest: image.digest, bytes: image.bytes, reason: .maxSize, lastUsed: image.lastUsed))
                remaining -= image.bytes
            }
            plan.overMaxBytes = max(0, remaining - maxBytes)
        }
        plan.bytesAfter = remaining
        return plan
    }
}
