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
        /// Its thumbnail rows, and of those the variants made on request.
        public var thumbnails = 0
        public var onDemandVariants = 0

        init(_ image: PruneImage, reason: Reason) {
            (digest, bytes, self.reason, lastUsed) = (image.digest, image.bytes, reason, image.lastUsed)
            (thumbnails, onDemandVariants) = (image.thumbnails, image.onDemandVariants)
        }
    }

    /// In the order chosen: unreferenced and expired images oldest first, then by least recent
    /// use. Filled by `make`; `stream` hands each to its `remove` instead and keeps only counts.
    public var removals: [Removal] = []
    /// How many images the plan removes, and for which reason.
    public var removalCount = 0
    public var removalsByReason: [Reason: Int] = [:]
    /// Their thumbnail rows, and of those the variants made on request.
    public var thumbnailsRemoved = 0
    public var onDemandVariantsRemoved = 0
    public var imagesBefore = 0
    public var bytesBefore = 0
    public var bytesAfter = 0
    /// Images a rule would have removed but that were used within the grace period.
    public var keptInGrace = 0
    /// How far above `maxBytes` the cache stays because the rest is within the grace period.
    public var overMaxBytes = 0

    public var bytesReclaimed: Int { bytesBefore - bytesAfter }

    public static func make(images: [PruneImage], policy: PrunePolicy, now: Date) throws -> PrunePlan {
        // Least recently used first; the digest breaks ties so the plan is deterministic.
        let ordered = images.sorted { a, b in
            let (ua, ub) = (a.lastUsed, b.lastUsed)
            return ua != ub ? ua < ub : a.digest < b.digest
        }
        return try make(walking: { body in for image in ordered { try body(image) } }, policy: policy, now: now)
    }

    /// The plan with its `removals` listed, from a walk (see `stream`).
    public static func make(walking images: ((PruneImage) throws -> Void) throws -> Void, policy: PrunePolicy, now: Date,
                            totals: (images: Int, bytes: Int)? = nil) rethrows -> PrunePlan {
        var removals: [Removal] = []
        var plan = try stream(walking: images, policy: policy, now: now, totals: totals) { removals.append($0) }
        plan.removals = removals
        return plan
    }

    /// The plan from a walk over the images in least-recently-used order (ties by digest),
    /// made once or twice (a second pass for `maxBytes`): what the index streams from a
    /// cursor. Each removal goes to `remove` as it is decided, in the plan's order, and the
    /// plan keeps only counts, so a prune holds neither the cache's images nor its removals.
    /// `totals` (images and bytes, when the caller has them from an aggregate) spares the first
    /// walk when no rule but `maxBytes` applies: it would only have counted.
    public static func stream(walking images: ((PruneImage) throws -> Void) throws -> Void, policy: PrunePolicy, now: Date,
                              totals: (images: Int, bytes: Int)? = nil, remove: (Removal) throws -> Void) rethrows -> PrunePlan {
        // The walk calls back into what `remove` captured, one call at a time.
        try withoutActuallyEscaping(remove) { remove in
            try stream(walking: images, policy: policy, now: now, totals: totals, removing: remove)
        }
    }

    private static func stream(walking images: ((PruneImage) throws -> Void) throws -> Void, policy: PrunePolicy, now: Date,
                               totals: (images: Int, bytes: Int)?, removing remove: @escaping (Removal) throws -> Void) rethrows -> PrunePlan {
        var plan = PrunePlan()
        func inGrace(_ image: PruneImage) -> Bool { now.timeIntervalSince(image.lastUsed) < policy.grace }
        func rule(_ image: PruneImage) -> Reason? {
            if policy.removeUnreferenced && !image.isReferenced { return .unreferenced }
            if let maxAge = policy.maxAge, now.timeIntervalSince(image.lastUsed) > maxAge { return .maxAge }
            return nil
        }
        var remaining = 0
        func removing(_ image: PruneImage, _ reason: Reason) throws {
            plan.count(Removal(image, reason: reason))
            try remove(Removal(image, reason: reason))
            remaining -= image.bytes
        }
        func firstPass(_ image: PruneImage) throws {
            plan.imagesBefore += 1
            plan.bytesBefore += image.bytes
            remaining += image.bytes
            guard let reason = rule(image) else { return }
            if inGrace(image) { plan.keptInGrace += 1 } else { try removing(image, reason) }
        }
        if let totals, !policy.removeUnreferenced, policy.maxAge == nil {
            (plan.imagesBefore, plan.bytesBefore, remaining) = (totals.images, totals.bytes, totals.bytes)
        } else {
            try images(firstPass)
        }
        if let maxBytes = policy.maxBytes {
            if remaining > maxBytes {
                try images { image in
                    // What the first pass kept, oldest first, until the cache fits.
                    guard remaining > maxBytes, rule(image) == nil || inGrace(image) else { return }
                    if inGrace(image) { plan.keptInGrace += 1 } else { try removing(image, .maxSize) }
                }
            }
            plan.overMaxBytes = max(0, remaining - maxBytes)
        }
        plan.bytesAfter = remaining
        return plan
    }

    private mutating func count(_ removal: Removal) {
        removalCount += 1
        removalsByReason[removal.reason, default: 0] += 1
        thumbnailsRemoved += removal.thumbnails
        onDemandVariantsRemoved += removal.onDemandVariants
    }
}
