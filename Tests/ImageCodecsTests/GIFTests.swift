import Foundation
import ImageCodecs
import ImageCore
import TestSupport
import Testing

/// GIF through giflib: the first frame composited as a browser draws it, limits checked before
/// pixels, clean errors. Fixtures and their references: Tests/Fixtures/formats/gif/make.sh.
@Suite("GIF")
struct GIFTests {
    static func fixture(_ name: String) throws -> Data { try Fixtures.data("../formats/gif/" + name) }

    /// RGBA pixels of the reference PNG; where it is fully transparent the colour is not compared.
    static func expectMatches(_ bitmap: Bitmap, reference name: String) throws {
        let reference = try ImageDecoder.decode(try fixture(name), options: DecodeOptions(colorManagement: false)).bitmap
        #expect(bitmap.width == reference.width && bitmap.height == reference.height)
        #expect(bitmap.channels == 4 && reference.channels == 4)
        let mine = bitmap.bytes, theirs = reference.bytes
        var differing = 0
        for i in 0..<(bitmap.width * bitmap.height) {
            let a = mine[(i * 4)..<(i * 4 + 4)], b = theirs[(i * 4)..<(i * 4 + 4)]
            if a.last != b.last || (b.last != 0 && !a.elementsEqual(b)) { differing += 1 }
        }
        #expect(differing == 0, "\(name): \(differing) pixels differ")
    }

    @Test("still, interlaced, transparent and an animation's offset first frame decode exactly as the references",
          arguments: ["static", "interlaced", "transparent", "animated"])
    func matchesReference(name: String) throws {
        let decoded = try ImageDecoder.decode(try Self.fixture(name + ".gif"))
        #expect(decoded.info.format == .gif)
        try Self.expectMatches(decoded.bitmap, reference: name + ".ref.png")
    }

    @Test("the probe reads the logical screen and counts frames without decoding them")
    func probe() throws {
        let animated = try ImageDecoder.probe(try Self.fixture("animated.gif"))
        #expect(animated.format == .gif && animated.size == Size(width: 64, height: 48) && animated.frames == 3)
        #expect(try ImageDecoder.probe(try Self.fixture("static.gif")).frames == 1)
    }

    @Test("the frame limit refuses a frame-count bomb while walking it; a higher limit takes it")
    func frameLimit() throws {
        let bomb = try Self.fixture("frames-1500.gif")
        let refused = #expect(throws: CodecError.self) { try ImageDecoder.decode(bomb) }
        #expect(refused?.code == .limitExceeded && refused?.message.contains("more than 1000 frames") == true)
        let taken = try ImageDecoder.decode(bomb, options: DecodeOptions(maxFrames: 2000))
        #expect(taken.info.frames == 1500)
        let pixels = #expect(throws: CodecError.self) {
            try ImageDecoder.decode(bomb, options: DecodeOptions(maxFrames: 2000, maxAnimationPixels: 1000))
        }
        #expect(pixels?.code == .limitExceeded && pixels?.message.contains("animation limit") == true)
    }

    @Test("a 65535x65535 logical screen is refused from its header, before the canvas is allocated")
    func screenBomb() throws {
        let error = #expect(throws: CodecError.self) { try ImageDecoder.decode(try Self.fixture("screen-65535.gif")) }
        #expect(error?.code == .tooManyPixels && error?.message.contains("65535x65535") == true)
    }

    @Test("a truncated GIF is an error; lenient keeps the rows that arrived and counts a warning")
    func truncated() throws {
        // A bare header is a GIF (by its magic bytes) that ends too soon, said as such.
        let header = #expect(throws: CodecError.self) { try ImageDecoder.decode(Data("GIF89a\u{01}\u{00}\u{01}\u{00}".utf8)) }
        #expect(header?.code == .truncated || header?.code == .corrupt, "\(String(describing: header))")
        let cut = try Self.fixture("static-truncated.gif")
        let error = #expect(throws: CodecError.self) { try ImageDecoder.decode(cut) }
        #expect(error?.code == .truncated)
        let lenient = try ImageDecoder.decode(cut, options: DecodeOptions(lenient: true))
        #expect(lenient.bitmap.size == (try ImageDecoder.probe(try Self.fixture("static.gif"))).size && lenient.warnings == 1, "\(lenient.bitmap.size) \(lenient.warnings)")
    }

    @Test("every single-byte corruption of a GIF decodes or fails cleanly; every cut fails or decodes leniently")
    func damaged() throws {
        let original = try Self.fixture("animated.gif")
        for position in 0..<original.count {
            for flip: UInt8 in [0x01, 0x80, 0xFF] {
                var data = original
                data[position] ^= flip
                do { _ = try ImageDecoder.decode(data) } catch {}  // a CodecError is fine; a crash is not
            }
        }
        for length in 0..<original.count {
            do { _ = try ImageDecoder.decode(original.prefix(length), options: DecodeOptions(lenient: true)) } catch {}
        }
    }
}

/// Every frame of a GIF, composited as browsers show it, and the animated WebP made from them.
@Suite("GIF animation")
struct GIFAnimationTests {
    @Test("each composited frame equals ImageMagick's coalesced frame (disposal to background and to previous included)")
    func framesMatchCoalesced() throws {
        // Three frames: the references are ImageMagick's -coalesce output (make.sh).
        try Self.expectFrames(of: "animated.gif", match: "animated.frame", delays: [100, 200, 300])
    }

    /// Every frame of `name` equals its reference `<prefix><index>.png` and shows for its delay.
    static func expectFrames(of name: String, match prefix: String, delays: [Int]) throws {
        let frames = try AnimationFrames(try GIFTests.fixture(name))
        var shown: [Int] = []
        while let frame = try frames.next() {
            try GIFTests.expectMatches(frame.bitmap, reference: "\(prefix)\(shown.count).png")
            shown.append(frame.milliseconds)
        }
        #expect(shown == delays, "\(name)")
    }

    @Test("an animated WebP source's frames (gif2webp of the GIF) come out composited as the GIF's, with their delays; the probe counts them")
    func webpSourceFrames() throws {
        let data = try GIFTests.fixture("animated.webp")
        let info = try ImageDecoder.probe(data)
        #expect(info.format == .webp && info.frames == 3 && info.durationMilliseconds == 600 && info.loopCount == 0)
        try Self.expectFrames(of: "animated.webp", match: "animated.frame", delays: [100, 200, 300])
    }

    @Test("an animated WebP over the frame limit, or over the frame-pixel limit, is refused before a frame is decoded")
    func webpSourceLimits() throws {
        let data = try GIFTests.fixture("animated.webp")
        let frames = #expect(throws: CodecError.self) { try AnimationFrames(data, options: DecodeOptions(maxFrames: 2)) }
        #expect(frames?.code == .limitExceeded && frames?.message.contains("3 frames") == true, "\(String(describing: frames))")
        let pixels = #expect(throws: CodecError.self) { try AnimationFrames(data, options: DecodeOptions(maxAnimationPixels: 64 * 48 * 2)) }
        #expect(pixels?.code == .limitExceeded)
    }

    @Test("an APNG made from the GIF's frames gives them back composited, with the delays; the probe reads frames, duration and plays")
    func apngFrames() throws {
        let data = try GIFTests.fixture("animated.apng")
        let info = try ImageDecoder.probe(data)
        #expect(info.format == .png && info.frames == 3 && info.durationMilliseconds == 600 && info.loopCount == 0, "\(info)")
        try Self.expectFrames(of: "animated.apng", match: "animated.apng.frame", delays: [100, 200, 300])
    }

    @Test("APNG dispose (none, previous, background) and blend (source, over) operations, by the specification's arithmetic")
    func apngOperations() throws {
        let data = try GIFTests.fixture("ops.apng")
        let info = try ImageDecoder.probe(data)
        #expect(info.frames == 4 && info.durationMilliseconds == 200 && info.loopCount == 2, "\(info)")
        let frames = try AnimationFrames(data)
        var shown: [Bitmap] = []
        while let frame = try frames.next() { shown.append(frame.bitmap) }
        try #require(shown.count == 4)
        let red: [UInt8] = [255, 0, 0, 255], clear: [UInt8] = [0, 0, 0, 0]
        #expect(shown[0].pixel(x: 2, y: 2) == red && shown[0].pixel(x: 20, y: 10) == red)
        // Blue at alpha 128 blended over opaque red: opaque, half and half.
        #expect(shown[1].pixel(x: 20, y: 10) == [127, 0, 128, 255] && shown[1].pixel(x: 2, y: 2) == red)
        // Frame 1 is disposed to the canvas before it; frame 2 replaces the whole canvas (source blend).
        #expect(shown[2].pixel(x: 2, y: 2) == clear && shown[2].pixel(x: 20, y: 10) == [0, 255, 0, 255])
        // Frame 2 is disposed to transparent; yellow at alpha 96 over nothing stays yellow at 96.
        #expect(shown[3].pixel(x: 2, y: 2) == [255, 255, 0, 96] && shown[3].pixel(x: 20, y: 20) == clear)
    }

    @Test("an APNG over the frame limit, or with a frame outside its canvas, is refused before a frame is decoded")
    func apngLimits() throws {
        let data = try GIFTests.fixture("ops.apng")
        let error = #expect(throws: CodecError.self) { try AnimationFrames(data, options: DecodeOptions(maxFrames: 3)) }
        #expect(error?.code == .limitExceeded && error?.message.contains("4 frames") == true, "\(String(describing: error))")
        // The second fcTL's x offset (bytes 12-15 of its data) pushed past the canvas.
        var moved = data
        let second = try #require(moved.ranges(of: Data("fcTL".utf8)).dropFirst().first)
        moved[second.upperBound + 12 ..< second.upperBound + 16] = Data([0, 0, 1, 0])
        let outside = #expect(throws: CodecError.self) { try AnimationFrames(moved) }
        #expect(outside?.message.contains("outside") == true, "\(String(describing: outside))")
    }

    @Test("every single-byte corruption and every cut of an APNG probes, decodes and animates or fails cleanly")
    func apngDamaged() throws {
        let original = try GIFTests.fixture("ops.apng")
        func attempt(_ data: Data) {
            _ = try? ImageDecoder.probe(data)
            _ = try? ImageDecoder.decode(data)
            guard let frames = try? AnimationFrames(data) else { return }
            while (try? frames.next()) != nil {}
        }
        for position in 0..<original.count {
            for flip: UInt8 in [0x01, 0x80, 0xFF] {
                var data = original
                data[position] ^= flip
                attempt(data)
            }
        }
        for length in 0..<original.count { attempt(original.prefix(length)) }
    }

    @Test("the probe sums the frames' durations and reads the loop count; a still has none")
    func timing() throws {
        let animated = try ImageDecoder.probe(try GIFTests.fixture("animated.gif"))
        #expect(animated.durationMilliseconds == 600 && animated.loopCount == 0)
        #expect(try ImageDecoder.probe(try GIFTests.fixture("static.gif")).durationMilliseconds == 0)
    }

    @Test("an animated WebP keeps the frame count, the timing and the loop count")
    func animatedWebP() throws {
        let frames = try AnimationFrames(try GIFTests.fixture("animated.gif"))
        let encoder = try AnimatedWebPEncoder(size: Size(width: 32, height: 24), loopCount: 0, quality: 75)
        var time = 0
        while let frame = try frames.next() {
            try encoder.add(Resampler.resample(frame.bitmap, to: Size(width: 32, height: 24)), at: time)
            time += frame.milliseconds
        }
        let webp = try ImageDecoder.decode(try encoder.finish(at: time))
        #expect(webp.info.format == .webp && webp.info.frames == 3 && webp.info.durationMilliseconds == 600 && webp.info.loopCount == 0)
        #expect(webp.bitmap.size == Size(width: 32, height: 24))
    }

    @Test("the frame limit holds frame by frame too")
    func iteratorLimits() throws {
        let frames = try AnimationFrames(try GIFTests.fixture("frames-1500.gif"))
        let error = #expect(throws: CodecError.self) { while try frames.next() != nil {} }
        #expect(error?.code == .limitExceeded)
        #expect(throws: CodecError.self) { try AnimationFrames(try GIFTests.fixture("screen-65535.gif")) }
    }
}

