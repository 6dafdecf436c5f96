import ImageCore
import TestSupport
import Testing

@Suite("Lanczos3 resampler")
struct ResamplerTests {
    static func uniform(width: Int, height: Int, pixel: [UInt8]) -> Bitmap {
        Bitmap(width: width, height: height, channels: pixel.count,
               bytes: Array((0..<(width * height)).map { _ in pixel }.joined()))
    }

    @Test("a uniform image stays uniform, edges included (weights renormalised at borders)",
          arguments: [[200] as [UInt8], [10, 200], [12, 130, 250], [12, 130, 250, 255]])
    func uniformStaysUniform(pixel: [UInt8]) {
        let source = Self.uniform(width: 97, height: 61, pixel: pixel)
        for size in [Size(width: 31, height: 20), Size(width: 7, height: 5), Size(width: 97, height: 13)] {
            let out = Resampler.resample(source, to: size)
            #expect(out.size == size)
            let bytes = out.bytes
            for i in 0..<bytes.count {
                #expect(abs(Int(bytes[i]) - Int(pixel[i % pixel.count])) <= 1, "sample \(i) at \(size)")
            }
        }
    }

    @Test("resampling to the same size returns the same pixels")
    func identity() {
        let bytes = (0..<(16 * 9 * 3)).map { UInt8(($0 * 37) % 256) }
        let source = Bitmap(width: 16, height: 9, channels: 3, bytes: bytes)
        #expect(Resampler.resample(source, to: source.size).bytes == bytes)
    }

    @Test("a one-pixel checkerboard halves to mid grey: no aliasing")
    func checkerboard() {
        let n = 64
        let bytes = (0..<(n * n)).map { UInt8((($0 % n) + ($0 / n)) % 2 == 0 ? 0 : 255) }
        let out = Resampler.resample(Bitmap(width: n, height: n, channels: 1, bytes: bytes), to: Size(width: 20, height: 20))
        for value in out.bytes { #expect(abs(Int(value) - 128) <= 12) }
    }

    @Test("premultiplied alpha: transparent pixels never bleed their colour")
    func premultipliedAlpha() {
        // Left half transparent red, right half opaque green.
        var bytes: [UInt8] = []
        for _ in 0..<40 { for x in 0..<40 { bytes += x < 20 ? [255, 0, 0, 0] : [0, 255, 0, 255] } }
        let out = Resampler.resample(Bitmap(width: 40, height: 40, channels: 4, bytes: bytes), to: Size(width: 10, height: 10))
        for y in 0..<10 {
            for x in 0..<10 {
                let p = out.pixel(x: x, y: y)
                if p[3] > 0 { #expect(p[0] <= 2, "red bled into (\(x), \(y)): \(p)") }
                if p[3] == 0 { #expect(p == [0, 0, 0, 0]) }
            }
        }
        #expect(out.pixel(x: 9, y: 5) == [0, 255, 0, 255])
        #expect(out.pixel(x: 0, y: 5)[3] == 0)
    }

    @Test("a region selects the part of the source that is scaled")
    func regionCrop() {
        // Columns 0..<5 black, the rest white. The region starts at 25 and is shrunk 4x, so its
        // kernel (12 source pixels either side) reaches back to column 15 at most: all white.
        var bytes: [UInt8] = []
        for _ in 0..<20 { for x in 0..<45 { bytes.append(x < 5 ? 0 : 255) } }
        let source = Bitmap(width: 45, height: 20, channels: 1, bytes: bytes)
        let out = Resampler.resample(source, region: Region(x: 25, y: 0, width: 20, height: 20), to: Size(width: 5, height: 5))
        #expect(out.bytes.allSatisfy { $0 == 255 })
        // The whole image, by contrast, has dark pixels on the left.
        let whole = Resampler.resample(source, to: Size(width: 9, height: 4))
        #expect(whole.pixel(x: 0, y: 0)[0] < 128)
    }

    @Test("a gradient keeps its mean")
    func gradientMean() {
        let width = 300, height = 7
        let bytes = (0..<(width * height)).map { UInt8(($0 % width) * 255 / (width - 1)) }
        let out = Resampler.resample(Bitmap(width: width, height: height, channels: 1, bytes: bytes), to: Size(width: 37, height: 3))
        let mean = PixelMath.channelMeans(out)[0]
        #expect(abs(mean - 127.5) < 2)
        // Monotonic, left to right.
        let row = (0..<37).map { out.pixel(x: $0, y: 1)[0] }
        #expect(zip(row, row.dropFirst()).allSatisfy { $0 <= $1 })
    }
}
