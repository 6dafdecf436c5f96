import Dispatch
import Foundation
import ImageCodecs
import ImageCore
import Synchronization

/// One input file and where its thumbnail goes (the extension is added once the format is known).
public struct ThumbnailJob: Hashable, Sendable {
    public var input: String
    /// Output path without extension.
    public var outputStem: String
}

/// What happened to one job.
public struct ThumbnailOutcome: Sendable {
    public enum Status: Sendable {
        case written(path: String, thumbnail: ThumbnailSummary)
        case failed(BatchFailure)
    }
    public var job: ThumbnailJob
    public var status: Status
}

/// The parts of a `Thumbnail` worth reporting (without its bytes).
public struct ThumbnailSummary: Hashable, Sendable, Codable {
    public var sourceWidth: Int
    public var sourceHeight: Int
    public var width: Int
    public var height: Int
    public var format: ImageFormat
    public var bytes: Int
    public var warnings: Int
    /// The source's colour profile and what was done with it (nil: none, taken as sRGB).
    public var colorProfile: String? = nil
}

/// A failure that names the item and the reason.
public struct BatchFailure: Error, Sendable, CustomStringConvertible {
    public var input: String
    public var reason: String
    /// A stable machine-readable kind: a `CodecError.Code` description, or "io".
    public var kind: String
    public var description: String { "\(input): \(reason)" }
}

/// Runs thumbnail jobs across cores: each worker takes the next file, so one slow image
/// never holds up the others. Failures are reported per file and never stop the batch.
public enum ThumbnailBatch {
    /// Output stems for `inputs` in `directory`: the input's base name, with "-2", "-3"...
    /// added when two inputs share a base name.
    public static func jobs(inputs: [String], outputDirectory: String) -> [ThumbnailJob] {
        var seen: [String: Int] = [:]
        return inputs.map { input in
            let stem = ((input as NSString).lastPathComponent as NSString).deletingPathExtension
            let key = stem.lowercased()
            let n = (seen[key] ?? 0) + 1
            seen[key] = n
            let unique = n == 1 ? stem : "\(stem)-\(n)"
            return ThumbnailJob(input: input, outputStem: (outputDirectory as NSString).appendingPathComponent(unique))
        }
    }

    /// Runs `jobs` with `concurrency` workers. `onOutcome` is called once per job, serially,
    /// in completion order, with the number of jobs finished so far.
    public static func run(_ jobs: [ThumbnailJob], options: ThumbnailOptions, concurrency: Int,
                           onOutcome: @Sendable (ThumbnailOutcome, Int) -> Void = { _, _ in }) -> [ThumbnailOutcome] {
        let state = Mutex(State(outcomes: Array(repeating: nil, count: jobs.count)))
        // Every input, by device and inode (links and different spellings of one path included):
        // no thumbnail is ever written over one of them.
        let inputs = Set(jobs.compactMap { FileIdentity($0.input) })
        let workers = max(1, min(concurrency, jobs.count))
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while true {
                let index: Int? = state.withLock { state in
                    guard state.next < jobs.count else { return nil }
                    defer { state.next += 1 }
                    return state.next
                }
                guard let index else { return }
                let outcome = process(jobs[index], options: options, inputs: inputs)
                state.withLock { state in
                    state.outcomes[index] = outcome
                    state.finished += 1
                    onOutcome(outcome, state.finished)
                }
            }
        }
        return state.withLock { $0.outcomes.compactMap { $0 } }  // every job has written its outcome by now
    }

    private struct State: ~Copyable {
        var next = 0
        var finished = 0
        var outcomes: [ThumbnailOutcome?]
    }

    static func process(_ job: ThumbnailJob, options: ThumbnailOptions, inputs: Set<FileIdentity>) -> ThumbnailOutcome {
        do {
            let data = try FileIO.read(job.input, limit: options.maxInputBytes)
            let thumbnail: Thumbnail
            do {
                thumbnail = try Thumbnailer.makeThumbnail(from: data, options: options)
            } catch {
                throw BatchFailure(input: job.input, reason: error.description, kind: error.code.description)
            }
            let path = job.outputStem + "." + thumbnail.format.fileExtension
            if let existing = FileIdentity(path), inputs.contains(existing) {
                throw BatchFailure(input: job.input, reason: "its thumbnail \(path) would overwrite an input file; nothing was written "
                                   + "(choose an -o folder that holds no inputs)", kind: "io")
            }
            try FileIO.writeAtomically(thumbnail.data, to: path)
            let summary = ThumbnailSummary(
                sourceWidth: thumbnail.source.orientedSize.width, sourceHeight: thumbnail.source.orientedSize.height,
                width: thumbnail.size.width, height: thumbnail.size.height, format: thumbnail.format,
                bytes: thumbnail.data.count, warnings: thumbnail.warnings, colorProfile: thumbnail.color.summary)
            return ThumbnailOutcome(job: job, status: .written(path: path, thumbnail: summary))
        } catch let failure as BatchFailure {
            return ThumbnailOutcome(job: job, status: .failed(failure))
        } catch {
            return ThumbnailOutcome(job: job, status: .failed(BatchFailure(input: job.input, reason: "\(error)", kind: "io")))
        }
    }
}

/// A file's device and inode: the same file whatever path or link names it.
struct FileIdentity: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64

    init?(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}
