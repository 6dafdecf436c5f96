import Foundation
import ImageCodecs
import ImageCore
import TestSupport
import Testing

/// The format table: one description per format, read by the sniffer, the decoder, the
/// encoder and (in ImgCacheKit's and the server's tests) configuration and negotiation.
@Suite("The format table")
struct FormatTableTests {
    static let samples: [(ImageFormat, String)] = [
        (.jpeg, "jpeg/baseline/hopper.jpg"), (.png, "png/hopper.png"),
        (.webp, "../formats/photo.webp"), (.avif, "../formats/photo.avif"),
        (.gif, "../formats/gif/static.gif"), (.tiff, "../formats/stills/strips.tiff"),
        (.heic, "../formats/stills/photo.heic"), (.jxl, "../formats/stills/lossless.jxl"),
        (.bmp, "../formats/stills/bits24.bmp"), (.ico, "../formats/stills/bmp-entries.ico"),
        (.svg, "../formats/svg/viewbox.svg"),
    ]

    @Test("every format has a sample that its own sniff, and no other format's, recognises; the decoder reports it")
    func sniffs() throws {
        #expect(Set(Self.samples.map(\.0)) == Set(ImageFormat.allCases), "a format of the table has no sample here")
        for (format, path) in Self.samples {
            let data = try Fixtures.data(path)
            let claimed = data.withUnsafeBytes { bytes in ImageFormat.allCases.filter { $0.entry.sniff(bytes) } }
            #expect(claimed == [format], "\(path)")
            #expect(try ImageDecoder.probe(data).format == format)
        }
    }

    @Test("extensions and names map to one format each, media types are image/*, and each is unique")
    func names() {
        var extensions = Set<String>()
        for format in ImageFormat.allCases {
            let entry = format.entry
            #expect(ImageFormat(fileExtension: entry.fileExtension) == format)
            #expect(ImageFormat(fileExtension: entry.fileExtension.uppercased()) == format)
            for alias in entry.aliases { #expect(ImageFormat(fileExtension: alias) == format) }
            #expect(ImageFormat(name: format.rawValue) == format)
            #expect(entry.mediaType.hasPrefix("image/"))
            for name in [entry.fileExtension] + entry.aliases { #expect(extensions.insert(name).inserted, "\(name) names two formats") }
        }
        #expect(ImageFormat(fileExtension: "exe") == nil)
        #expect(ImageFormat.extensionList.split(separator: "|").count == ImageFormat.allCases.count)
    }

    @Test("every format the table says it writes is written, at its default quality, and reads back as itself")
    func encodes() throws {
        let bitmap = Bitmap(width: 16, height: 12, channels: 3, bytes: (0..<(16 * 12 * 3)).map { UInt8($0 % 251) })
        #expect(!ImageFormat.encodable.isEmpty)
        for format in ImageFormat.encodable {
            let data = try ImageEncoder.encode(bitmap, as: format, quality: nil)
            #expect(try ImageDecoder.probe(data).format == format)
            if let encoding = format.entry.encoding, encoding.qualityKey != nil {
                #expect((1...100).contains(encoding.defaultQuality ?? 0), "\(format) has a quality key but no default")
            }
        }
    }

    @Test("an unknown format's error names every format the table reads")
    func unknownNamesTheTable() throws {
        let error = #expect(throws: CodecError.self) { try ImageDecoder.probe(Data("<!DOCTYPE html><p>no".utf8)) }
        for format in ImageFormat.allCases { #expect(error?.message.contains(format.entry.name) == true) }
        #expect(error?.message.contains("looks like an HTML page") == true)
    }
}
