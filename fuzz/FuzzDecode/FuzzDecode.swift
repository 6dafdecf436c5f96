import Foundation
import ImageCodecs
import ImageCore

/// libFuzzer target: probe → decode (every format of the table, colour-managed) → orient → resize →
/// encode (the fallback format and WebP; an animated GIF's every frame into an animated WebP), as the thumbnail pipeline does, on whatever bytes the
/// fuzzer makes (seeded with Tests/Fixtures/corpus, formats and colour). Every input
/// must end in a thrown CodecError or a valid thumbnail: a crash, a hang, an ASan report or an
/// allocation the limits should have refused is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDecode(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    // Small limits: the fuzzer finds bombs quickly; the limit must refuse them before allocating.
    let options = DecodeOptions(maxPixels: 4_000_000)
    guard let info = try? ImageDecoder.probe(data), info.size.pixelCount > 0, info.size.pixelCount <= options.maxPixels else {
        return 0
    }
    guard let decoded = try? ImageDecoder.decode(data, options: options) else { return 0 }
    precondition(decoded.bitmap.size == info.size, "decoded \(decoded.bitmap.size), probed \(info.size)")
    let upright = decoded.bitmap.applying(info.orientation)
    let target = Size(width: max(1, min(64, upright.size.width)), height: max(1, min(64, upright.size.height)))
    let small = Resampler.resample(upright, to: target)
    let fallback = upright.channels == 4 ? try? ImageEncoder.png(small) : try? ImageEncoder.jpeg(small, quality: 80)
    for encoded in [fallback, try? ImageEncoder.webp(small, quality: 80)].compactMap({ $0 }) {
        // What we write must read back at its size.
        let back = try? ImageDecoder.decode(encoded)
        precondition(back?.bitmap.size == target, "re-decoded thumbnail has the wrong size")
    }
    if AnimationFrames.reads(info.format), info.frames > 1 { animate(data, options: options) }
    return 0
}

/// An animation's frames, each composited and resized into an animated WebP, as a sync does
/// for a WebP variant of an animated GIF: it must end in an error or a file of that many frames.
func animate(_ data: Data, options: DecodeOptions) {
    guard let frames = try? AnimationFrames(data, options: DecodeOptions(maxPixels: options.maxPixels, maxFrames: 50)),
          let encoder = try? AnimatedWebPEncoder(size: Size(width: 16, height: 16), loopCount: 0, quality: 50, method: 0) else { return }
    var time = 0, count = 0
    do {
        while let frame = try frames.next() {
            try encoder.add(Resampler.resample(frame.bitmap, to: encoder.size), at: time)
            time += frame.milliseconds
            count += 1
        }
    } catch { return }
    guard let webp = try? encoder.finish(at: time) else { return }
    let back = try? ImageDecoder.decode(webp)
    precondition(back?.bitmap.size == encoder.size, "the animated WebP does not read back at its size")
}
