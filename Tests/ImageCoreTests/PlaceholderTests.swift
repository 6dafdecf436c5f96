import ImageCore
import Testing

@Suite("Placeholders")
struct PlaceholderTests {
    static func uniform(_ pixel: [UInt8], width: Int = 8, height: Int = 6) -> Bitmap {
        Bitmap(width: width, height: height, channels: pixel.count, bytes: Array((0..<(width * height)).map { _ in pixel }.joined()))
    }

    @Test("a uniform image: the size flag, and a DC that is exactly its colour", arguments: [
        [255, 0, 0] as [UInt8], [0, 128, 255], [12, 34, 56], [255, 255, 255],
    ])
    func uniform(pixel: [UInt8]) {
        let hash = Array(Placeholder.compute(from: Self.uniform(pixel)).blurHash)
        let dc = Int(pixel[0]) << 16 | Int(pixel[1]) << 8 | Int(pixel[2])
        #expect(hash.count == 28)  // 1 size flag + 1 maximum + 4 DC + 11 x 2 AC
        #expect(hash[0] == "L")    // (4-1) + (3-1) * 9 = 21
        #expect(String(hash[2..<6]) == BlurHashTestSupport.base83(dc, 4))
        // With one component there is no AC at all: "00" and the colour.
        let rgb = Self.uniform(pixel).bytes
        #expect(BlurHash.encode(rgb, width: 8, height: 6, xComponents: 1, yComponents: 1) == "00" + BlurHashTestSupport.base83(dc, 4))
    }

    @Test("one component: '00' and the colour (the format's 1x1 case)")
    func singleComponent() {
        let rgb = [UInt8](repeating: 0, count: 16 * 3).enumerated().map { $0.offset % 3 == 1 ? UInt8(200) : 10 }
        #expect(BlurHash.encode(rgb, width: 4, height: 4, xComponents: 1, yComponents: 1)
                == "00" + BlurHashTestSupport.base83(10 << 16 | 200 << 8 | 10, 4))
    }

    @Test("a gradient's hash differs from a flat image's of the same mean, and is stable")
    func gradient() {
        let width = 32, height = 16
        var bytes: [UInt8] = []
        for _ in 0..<height { for x in 0..<width { bytes += [UInt8(x * 8), 64, UInt8(255 - x * 8)] } }
        let bitmap = Bitmap(width: width, height: height, channels: 3, bytes: bytes)
        let hash = Placeholder.compute(from: bitmap).blurHash
        #expect(hash.count == 28)
        let flat = Placeholder.compute(from: Self.uniform([128, 64, 128], width: width, height: height)).blurHash
        #expect(hash.dropFirst(6) != flat.dropFirst(6))
        #expect(Placeholder.compute(from: bitmap).blurHash == hash)
    }

    @Test("the dominant colour is the most common one; transparent pixels do not count")
    func dominant() {
        var bytes: [UInt8] = []
        for i in 0..<100 { bytes += i < 60 ? [200, 20, 20, 255] : (i < 90 ? [20, 20, 200, 255] : [20, 200, 20, 0]) }
        let bitmap = Bitmap(width: 10, height: 10, channels: 4, bytes: bytes)
        #expect(Placeholder.compute(from: bitmap).dominantColor == "#c81414")
        let gray = Self.uniform([7], width: 3, height: 3)
        #expect(Placeholder.compute(from: gray).dominantColor == "#070707")
    }
}

/// An independent base83 for the expected values.
enum BlurHashTestSupport {
    static func base83(_ value: Int, _ length: Int) -> String {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~")
        var digits: [Character] = []
        var rest = value
        for _ in 0..<length {
            digits.insert(alphabet[rest % 83], at: 0)
            rest /= 83
        }
        return String(digits)
    }
}
