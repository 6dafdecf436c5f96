import Foundation
import ImageCodecs
import ImageCore
import TestSupport
import Testing

/// End to end: the built `imgcache` binary, as a user runs it.
@Suite("imgcache thumb (the binary)")
struct ThumbCommandTests {
    @Test("all good: exit 0, thumbnails written, a summary line")
    func success() throws {
        let out = try TemporaryDirectory()
        let result = try Executable.run(["thumb", "--size", "64x64", "-o", out.path,
                                         Fixtures.url("jpeg/orientation/Landscape_5.jpg").path,
                                         Fixtures.url("png/pil123rgba.png").path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).sorted() == ["Landscape_5.jpg", "pil123rgba.png"])
        #expect(result.stderr.contains("thumb: 2 written, 0 failed"))
    }

    @Test("one bad file: exit 1, one line naming it and the reason, the rest still written")
    func partialFailure() throws {
        let out = try TemporaryDirectory()
        let bomb = Fixtures.url("bad/bomb/16384x16384.png").path
        let result = try Executable.run(["thumb", "--jobs", "1", "-o", out.path, bomb,
                                         Fixtures.url("jpeg/baseline/testorig.jpg").path])
        #expect(result.status == 1)
        let errors = result.stderr.split(separator: "\n").filter { $0.hasPrefix("error: ") }
        #expect(errors.count == 1)
        #expect(errors.first?.contains(bomb) == true)
        #expect(errors.first?.contains("too many pixels") == true)
        #expect(FileManager.default.fileExists(atPath: out.url.appendingPathComponent("testorig.jpg").path))
    }

    @Test("an input is never written over: -o DIR DIR/photo.jpg fails that file, says so, and leaves the photo")
    func neverOverwritesInput() throws {
        let folder = try TemporaryDirectory()
        let photo = folder.url.appendingPathComponent("photo.jpg")
        let original = try Fixtures.data("jpeg/baseline/testorig.jpg")
        try original.write(to: photo)
        let other = folder.url.appendingPathComponent("elsewhere.png")
        try Fixtures.data("png/pil123rgba.png").write(to: other)
        // Also through another spelling of the folder.
        let result = try Executable.run(["thumb", "--size", "32x32", "-o", folder.path + "/./", photo.path, other.path])
        #expect(result.status == 1)
        let errors = result.stderr.split(separator: "\n").filter { $0.hasPrefix("error: ") }
        #expect(errors.count == 2, "\(result.stderr)")
        #expect(errors.allSatisfy { $0.contains("would overwrite an input file") })
        #expect(try Data(contentsOf: photo) == original)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() == ["elsewhere.png", "photo.jpg"])
    }

    @Test("an output folder that cannot be made is an i/o error: exit 1, no usage text")
    func outputIsAFile() throws {
        let folder = try TemporaryDirectory()
        let file = folder.url.appendingPathComponent("not-a-folder")
        try Data("x".utf8).write(to: file)
        let result = try Executable.run(["thumb", "-o", file.path, Fixtures.url("jpeg/baseline/testorig.jpg").path])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("error: cannot create the output directory"))
        #expect(!result.stderr.contains("Usage:"))
    }

    @Test("--json reports every item for scripts")
    func json() throws {
        let out = try TemporaryDirectory()
        let result = try Executable.run(["thumb", "--json", "--quiet", "--size", "100x100", "-o", out.path,
                                         Fixtures.url("jpeg/baseline/testorig.jpg").path,
                                         Fixtures.url("bad/jpeg/empty.jpg").path])
        #expect(result.status == 1)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(report["written"] as? Int == 1)
        #expect(report["failed"] as? Int == 1)
        let items = try #require(report["items"] as? [[String: Any]])
        let thumbnail = try #require(items.first?["thumbnail"] as? [String: Any])
        #expect(thumbnail["width"] as? Int == 100)
        #expect(thumbnail["height"] as? Int == 66)
        #expect(items.last?["errorKind"] as? String == "unsupported format")
    }

    @Test("usage errors exit 2", arguments: [
        ["thumb", "-o", "/tmp/x"],                                 // no files
        ["thumb", "--quality", "0", "-o", "/tmp/x", "a.jpg"],      // out of range
        ["thumb", "--fit", "stretch", "-o", "/tmp/x", "a.jpg"],    // unknown mode
        ["thumb", "--size", "big", "-o", "/tmp/x", "a.jpg"],       // bad size
        ["frobnicate"],
    ])
    func usage(arguments: [String]) throws {
        let result = try Executable.run(arguments)
        #expect(result.status == 2, "\(arguments): \(result.stderr)")
        #expect(!result.stderr.isEmpty)
    }

    @Test("--help shows examples and exits 0")
    func help() throws {
        let result = try Executable.run(["thumb", "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Examples:"))
        #expect(result.stdout.contains("--lenient"))
    }

    @Test("--format webp of an animated GIF writes an animated WebP (frames and timing kept); the default format its first frame")
    func animatedGIF() throws {
        let out = try TemporaryDirectory()
        let gif = Fixtures.url("../formats/gif/animated.gif").path
        let webp = try Executable.run(["thumb", "--quiet", "--format", "webp", "--size", "32x32", "-o", out.path, gif])
        #expect(webp.status == 0, "\(webp.stderr)")
        let animated = try ImageDecoder.decode(try Data(contentsOf: out.url.appendingPathComponent("animated.webp")))
        #expect(animated.info.frames == 3 && animated.info.durationMilliseconds == 600 && animated.bitmap.size == Size(width: 32, height: 24))
        let still = try Executable.run(["thumb", "--quiet", "--size", "32x32", "-o", out.path, gif])
        #expect(still.status == 0, "\(still.stderr)")
        let first = try ImageDecoder.decode(try Data(contentsOf: out.url.appendingPathComponent("animated.png")))
        #expect(first.info.frames == 1 && first.bitmap.hasTransparency)
    }
}
