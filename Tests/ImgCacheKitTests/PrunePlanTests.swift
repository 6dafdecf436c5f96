import CacheStore
import Foundation
import ImgCacheKit
import TestSupport
import Testing

@Suite("prune plan (pure)")
struct PrunePlanTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let hour: TimeInterval = 3600
    static let day: TimeInterval = 86400

    /// A random cache: ages from seconds to 90 days, some never served or referenced.
    static func randomCache(_ rng: inout SplitMix64) -> [PruneImage] {
        let count = Int.random(in: 0...60, using: &rng)
        return (0..<count).map { index in
            func age() -> TimeInterval {
                // Mostly spread over 90 days, often within the first hours (around the grace period).
                Bool.random(using: &rng) ? .random(in: 0...(90 * day), using: &rng) : .random(in: 0...(3 * hour), using: &rng)
            }
            return PruneImage(
                digest: String(format: "%064x", index),
                bytes: Int.random(in: 1...5_000_000, using: &rng),
                lastWritten: now.addingTimeInterval(-age()),
                lastReferenced: Bool.random(using: &rng) ? now.addingTimeInterval(-age()) : nil,
                lastServed: Bool.random(using: &rng) ? now.addingTimeInterval(-age()) : nil,
                isReferenced: Int.random(in: 0..<4, using: &rng) != 0)
        }
    }

    static func randomPolicy(_ rng: inout SplitMix64, total: Int) -> PrunePolicy {
        PrunePolicy(
            maxBytes: Bool.random(using: &rng) ? Int.random(in: 0...max(1, total), using: &rng) : nil,
            maxAge: Bool.random(using: &rng) ? .random(in: 0...(60 * day), using: &rng) : nil,
            removeUnreferenced: Bool.random(using: &rng),
            grace: [0, 60, hour, 6 * hour].randomElement(using: &rng)!)
    }

    @Test("2,000 random caches and policies: the grace period, max-size, max-age, unreferenced and LRU order all hold")
    func properties() throws {
        for seed in UInt64(1)...2000 {
            var rng = SplitMix64(state: seed)
            let images = Self.randomCache(&rng)
            let total = images.reduce(0) { $0 + $1.bytes }
            let policy = Self.randomPolicy(&rng, total: total)
            let plan = try PrunePlan.make(images: images, policy: policy, now: Self.now)
            let byDigest = Dictionary(uniqueKeysWithValues: images.map { ($0.digest, $0) })
            let removed = Set(plan.removals.map(\.digest))
            let kept = images.filter { !removed.contains($0.digest) }
            func inGrace(_ image: PruneImage) -> Bool { Self.now.timeIntervalSince(image.lastUsed) < policy.grace }
            let context = "seed \(seed), policy \(policy)"

            #expect(removed.count == plan.removals.count, "an image removed twice: \(context)")
            #expect(plan.removalCount == plan.removals.count, "\(context)")
            #expect(plan.removalsByReason == Dictionary(grouping: plan.removals, by: \.reason).mapValues(\.count), "\(context)")
            #expect(plan.thumbnailsRemoved == plan.removals.reduce(0) { $0 + $1.thumbnails }, "\(context)")
            #expect(plan.bytesAfter == total - plan.removals.reduce(0) { $0 + $1.bytes }, "\(context)")
            // Never anything inside the grace period.
            for removal in plan.removals {
                #expect(!inGrace(byDigest[removal.digest]!), "removed within grace: \(removal) \(context)")
            }
            // Under max-size whenever that is possible (the images within grace fit).
            if let maxBytes = policy.maxBytes {
                let protected = images.filter(inGrace).reduce(0) { $0 + $1.bytes }
                if protected <= maxBytes {
                    #expect(plan.bytesAfter <= maxBytes, "over max-size although possible: \(context)")
                    #expect(plan.overMaxBytes == 0)
                } else {
                    #expect(plan.overMaxBytes == plan.bytesAfter - maxBytes, "\(context)")
                    #expect(kept.allSatisfy(inGrace), "over max-size with removable images left: \(context)")
                }
                // Least recently used first: no kept, removable image is older than an evicted one.
                let evicted = plan.removals.filter { $0.reason == .maxSize }
                if let newestEvicted = evicted.map(\.lastUsed).max() {
                    for image in kept where !inGrace(image) {
                        #expect(image.lastUsed >= newestEvicted, "LRU order broken: \(context)")
                    }
                }
            } else {
                #expect(!plan.removals.contains { $0.reason == .maxSize })
            }
            // Unreferenced: every removable unreferenced image goes; with no size rule, nothing referenced
            // goes unless it is past max-age.
            if policy.removeUnreferenced {
                for image in images where !image.isReferenced && !inGrace(image) {
                    #expect(removed.contains(image.digest), "unreferenced image kept: \(context)")
                }
            }
            if policy.maxBytes == nil && policy.maxAge == nil {
                for removal in plan.removals { #expect(byDigest[removal.digest]!.isReferenced == false, "\(context)") }
            }
            if !policy.removesAnything { #expect(plan.removals.isEmpty) }
            // Max-age: everything removable and older goes; nothing younger goes for age.
            if let maxAge = policy.maxAge {
                for image in images where !inGrace(image) && Self.now.timeIntervalSince(image.lastUsed) > maxAge {
                    #expect(removed.contains(image.digest), "expired image kept: \(context)")
                }
                for removal in plan.removals where removal.reason == .maxAge {
                    #expect(Self.now.timeIntervalSince(removal.lastUsed) > maxAge)
                }
            }
        }
    }

    @Test("an example: unreferenced first, then expired, then least recently used until under the size")
    func example() throws {
        let now = Self.now
        func image(_ name: String, mb: Int, usedHoursAgo: Double, referenced: Bool = true) -> PruneImage {
            PruneImage(digest: name, bytes: mb * 1_000_000, lastWritten: now.addingTimeInterval(-usedHoursAgo * Self.hour - 99 * Self.day),
                       lastServed: now.addingTimeInterval(-usedHoursAgo * Self.hour), isReferenced: referenced)
        }
        let images = [
            image("fresh-big", mb: 50, usedHoursAgo: 0.5),           // within the 1h grace
            image("gone", mb: 10, usedHoursAgo: 5, referenced: false),
            image("ancient", mb: 5, usedHoursAgo: 24 * 40),
            image("old", mb: 20, usedHoursAgo: 48),
            image("recent", mb: 20, usedHoursAgo: 3),
        ]
        let plan = try PrunePlan.make(images: images, policy: PrunePolicy(maxBytes: 75_000_000, maxAge: 30 * Self.day,
                                                                      removeUnreferenced: true), now: now)
        #expect(plan.removals.map(\.digest) == ["ancient", "gone", "old"])
        #expect(plan.removals.map(\.reason) == [.maxAge, .unreferenced, .maxSize])
        #expect(plan.bytesBefore == 105_000_000)
        #expect(plan.bytesAfter == 70_000_000)
        #expect(plan.bytesReclaimed == 35_000_000)

        // A size only the grace period stops: as close as allowed, and the shortfall reported.
        let tight = try PrunePlan.make(images: images, policy: PrunePolicy(maxBytes: 10_000_000), now: now)
        #expect(Set(tight.removals.map(\.digest)) == ["gone", "ancient", "old", "recent"])
        #expect(tight.overMaxBytes == 40_000_000)
        #expect(tight.keptInGrace == 1)
    }

    @Test("sizes and durations as people write them")
    func parsing() {
        #expect(ByteSizeText.parse("2GiB") == 2 * 1024 * 1024 * 1024)
        #expect(ByteSizeText.parse("500MB") == 500_000_000)
        #expect(ByteSizeText.parse("1.5G") == 1_610_612_736)
        #expect(ByteSizeText.parse("4096") == 4096)
        #expect(ByteSizeText.parse("10 kb") == 10_000)
        #expect(ByteSizeText.parse("-1MB") == nil)
        #expect(ByteSizeText.parse("lots") == nil)
        #expect(ByteSizeText.parse("") == nil)
        #expect(DurationText.parse("30d") == 30 * Self.day)
    }
}
