import ArgumentParser
import Foundation
import ImageCodecs
import ImageCore
import ImgCacheKit

extension Size: ExpressibleByArgument {
    public init?(argument: String) { self.init(parsing: argument) }
}

extension FitMode: ExpressibleByArgument {}
extension OutputFormat: ExpressibleByArgument {}

struct ThumbCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "thumb",
        abstract: "Make thumbnails of image files (\(ImageFormat.allCases.map(\.description).joined(separator: ", "))).",
        discussion: """
            Each FILE is decoded (JPEG with DCT shrink-on-load; an animation's first frame), \
            converted to sRGB from its ICC profile or colour tags, turned upright from its EXIF \
            orientation (AVIF: irot/imir), resampled with Lanczos3 and written to OUTDIR under its \
            own base name: by default JPEG for opaque images, PNG when any pixel is transparent; \
            --format webp or avif writes those (alpha kept). Images are never upscaled. --json \
            says which colour profile each source had and whether it was converted.

            Hostile input is expected: a header declaring more than --max-pixels, or a file over \
            --max-bytes, is refused before any pixel memory is allocated. By default a truncated \
            file or corrupt data is an error; --lenient keeps what the decoder could recover \
            (missing JPEG rows come out grey). Every failure is one line on stderr naming the \
            file and the reason; the other files are still processed.

            Examples:
              imgcache thumb -o thumbs photos/*.jpg
              imgcache thumb --size 640x360 --fit cover --quality 85 -o cards photos/*
              imgcache thumb --size 300x300 --fit cover --gravity attention -o squares photos/*
              imgcache thumb --jobs 1 --format png --json -o out image.png
              imgcache thumb --format avif --quality 60 -o avif photos/*.jpg
            """)

    /// "JPEG 80, WebP 75, AVIF 57": each writable format's default quality, from the format table.
    static var defaultQualities: String {
        ImageFormat.encodable.compactMap { format in format.entry.encoding?.defaultQuality.map { "\(format.entry.name) \($0)" } }
            .joined(separator: ", ")
    }

    @Option(name: .shortAndLong, help: ArgumentHelp("Directory for the thumbnails (created if missing).", valueName: "outdir"))
    var output: String

    @Option(help: ArgumentHelp("The box, WIDTHxHEIGHT.", valueName: "WxH"))
    var size: Size = Size(width: 320, height: 320)

    @Option(help: "inside: whole image in the box; cover: fill the box, crop the rest (see --gravity); fill: stretch to the box.")
    var fit: FitMode = .inside

    @Option(help: "With --fit cover, the part kept: center, attention (edges, skin, saturation), entropy, or fp:<x>:<y>.")
    var gravity: Gravity = .center

    @Option(help: "Quality, 1-100 (default: the format's: \(ThumbCommand.defaultQualities)).")
    var quality: Int?

    @Option(help: "auto (JPEG if opaque, PNG if transparent), or one of \(OutputFormat.nameList).")
    var format: OutputFormat = .auto

    @Option(help: ArgumentHelp("Parallel workers (default: one per core).", valueName: "n"))
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: ArgumentHelp("Refuse images whose header declares more pixels than this.", valueName: "n"))
    var maxPixels: Int = DecodeOptions.defaultMaxPixels

    @Option(help: ArgumentHelp("Refuse input files larger than this many bytes.", valueName: "n"))
    var maxBytes: Int = ThumbnailOptions.defaultMaxInputBytes

    @Flag(help: "Keep partial images from truncated or corrupt files instead of failing.")
    var lenient = false

    @Flag(help: "Print a JSON report on stdout.")
    var json = false

    @Flag(name: .shortAndLong, help: "No progress or summary on stderr (failures are still reported).")
    var quiet = false

    @Argument(help: ArgumentHelp("JPEG, PNG, WebP or AVIF files.", valueName: "file"))
    var files: [String]

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one FILE") }
        if let quality { guard (1...100).contains(quality) else { throw ValidationError("--quality must be 1-100") } }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
        guard maxPixels >= 1, maxBytes >= 1 else { throw ValidationError("limits must be positive") }
    }

    func run() throws {
        do {
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        } catch {
            // An i/o failure, not a usage error: exit 1 without the usage text.
            FileHandle.standardError.write(Data("error: cannot create the output directory \(output.safe): \(error.localizedDescription.safe)\n".utf8))
            throw ExitCode(1)
        }
        let options = ThumbnailOptions(
            spec: ThumbnailSpec(box: size, fit: fit, gravity: gravity), format: format, quality: quality ?? Variant.Quality().value(for: format),
            decode: DecodeOptions(maxPixels: maxPixels, lenient: lenient), maxInputBytes: maxBytes)
        let jobs = ThumbnailBatch.jobs(inputs: files, outputDirectory: output)
        let progress = ProgressReporter(total: jobs.count, label: "thumb", enabled: !quiet)
        let started = Date()
        let outcomes = ThumbnailBatch.run(jobs, options: options, concurrency: self.jobs) { outcome, finished in
            if case .failed(let failure) = outcome.status {
                progress.printLine("error: \(safeLine(failure))")
            }
            progress.update(finished: finished)
        }
        progress.finish()
        let elapsed = Date().timeIntervalSince(started)
        let report = ThumbReport(outcomes: outcomes, seconds: elapsed)
        if json { printJSON(report) }
        if !quiet {
            FileHandle.standardError.write(Data((report.summaryLine + "\n").utf8))
        }
        if report.failed > 0 { throw ExitCode(1) }
    }
}

/// The result of a `thumb` run, for the summary line and `--json`.
struct ThumbReport: Encodable {
    struct Item: Encodable {
        var input: String
        var output: String?
        var error: String?
        var errorKind: String?
        var thumbnail: ThumbnailSummary?
    }
    var written: Int
    var failed: Int
    var bytesWritten: Int
    var seconds: Double
    var items: [Item]

    init(outcomes: [ThumbnailOutcome], seconds: Double) {
        items = outcomes.map { outcome in
            switch outcome.status {
            case .written(let path, let summary):
                return Item(input: outcome.job.input, output: path, thumbnail: summary)
            case .failed(let failure):
                return Item(input: outcome.job.input, error: failure.reason, errorKind: failure.kind)
            }
        }
        written = items.filter { $0.output != nil }.count
        failed = items.count - written
        bytesWritten = items.compactMap { $0.thumbnail?.bytes }.reduce(0, +)
        self.seconds = seconds
    }

    var summaryLine: String {
        let time = String(format: "%.2f", seconds)
        return "thumb: \(written) written, \(failed) failed, \(bytesWritten) bytes in \(time) s"
    }
}
