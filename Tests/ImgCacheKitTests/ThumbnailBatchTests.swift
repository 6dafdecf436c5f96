import Foundation
import ImageCodecs
import ImageCore
import ImgCacheKit
import TestSupport
import Testing

@Suite("Thumbnail batch")
struct ThumbnailBatchTests {
    @Test("output names follow the input's base name and stay unique")
    func uniqueNames() {
        let jobs = ThumbnailBatch.jobs(inputs: ["a/photo.jpg", "b/photo.png", "c/Photo.jpeg", "other.jpg"], outputDirectory: "/out")
        #expect(jobs.map(\.outputStem) == ["/out/photo", "/out/photo-2", "/out/Photo-3", "/out/other"])
    }

    @Test("bad files fail one by one with their name and reason; the good ones are written", arguments: [1, 4])
    func mixedBatch(concurrency: Int) throws {
        let directory = try TemporaryDirectory()
        let inputs = [
            "jpeg/baseline/testorig.jpg", "bad/bomb/9643x10328.jpg", "png/transparent.png",
            "bad/jpeg/Landscape_1-truncated-50pct.jpg", "bad/png/libpng-crashers/huge_iCCP_chunk.png",
            "jpeg/colorspace/pil_sample_cmyk.jpg", "does/not/exist.jpg",
        ].map { Fixtures.url($0).path }
        let jobs = ThumbnailBatch.jobs(inputs: inputs, outputDirectory: directory.path)
        let finished = ManagedCounter()
        let outcomes = ThumbnailBatch.run(jobs, options: ThumbnailOptions(), concurrency: concurrency) { _, n in finished.set(n) }
        #expect(outcomes.count == inputs.count)
        #expect(finished.value == inputs.count)
        var written: [String] = [], failed: [String: BatchFailure] = [:]
        for outcome in outcomes {
            switch outcome.status {
            case .written(let path, _): written.append((path as NSString).lastPathComponent)
            case .failed(let failure): failed[(failure.input as NSString).lastPathComponent] = failure
            }
        }
        #expect(written.sorted() == ["pil_sample_cmyk.jpg", "testorig.jpg", "transparent.png"])
        #expect(failed["9643x10328.jpg"]?.kind == "too many pixels")
        #expect(failed["Landscape_1-truncated-50pct.jpg"]?.kind == "truncated")
        #expect(failed["huge_iCCP_chunk.png"] != nil)
        #expect(failed["exist.jpg"]?.kind == "io")
        for failure in failed.values { #expect(failure.description.hasPrefix(failure.input + ": ")) }
        // Only the thumbnails are left in the output folder: no temporary files.
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(files == ["pil_sample_cmyk.jpg", "testorig.jpg", "transparent.png"])
    }
}

/// A counter the batch's callback can update from worker threads.
final class ManagedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var stored = 0
    var value: Int { lock.withLock { stored } }
    func set(_ n: Int) { lock.withLock { stored = max(stored, n) } }
}
