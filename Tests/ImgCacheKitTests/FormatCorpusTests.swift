import Foundation
import ImageCodecs
import ImageCore
import ImgCacheKit
import TestSupport
import Testing

// Serialized, and yielding after each file: this is minutes of CPU work, and a test that holds
// the cooperative pool's threads starves the suites running beside it (the server tests' live
// servers answer through that pool).
@Suite("Every corpus image through every output format", .serialized)
struct FormatCorpusTests {
    /// The valid corpus files imgcache decodes (12-bit and lossless JPEG are refused by design).
    static let decodable = Fixtures.entries { $0.expected == "valid" && !$0.probe.hasPrefix("ERR") }
        .filter { (try? ImageDecoder.decode(try Fixtures.data($0.path))) != nil }

    @Test("a thumbnail in each format decodes back to its size, alpha kept where the image has it",
          arguments: [OutputFormat.webp, .avif, .auto, .png])
    func everyFile(format: OutputFormat) async throws {
        #expect(Self.decodable.count > 250)
        for entry in Self.decodable {
            let options = ThumbnailOptions(spec: ThumbnailSpec(box: Size(width: 96, height: 96), fit: .inside), format: format)
            let thumbnail = try Thumbnailer.makeThumbnail(from: try Fixtures.data(entry.path), options: options)
            let back = try ImageDecoder.decode(thumbnail.data)
            #expect(back.bitmap.size == thumbnail.size, "\(entry.path) as \(format)")
            if format != .auto {
                #expect(thumbnail.format.rawValue == format.rawValue, "\(entry.path)")
            }
            if thumbnail.bitmap.hasTransparency {
                #expect(back.bitmap.hasTransparency, "\(entry.path) as \(format) lost its alpha")
            }
            await Task.yield()
        }
    }
}
