import ImageCore
import Testing

@Suite("Smart crop and gravity: attention, entropy, a focal point, fill")
struct SmartCropTests {
    /// A flat grey image `width` × `height` with a `patch`-pixel square drawn at (x, y) by `paint`.
    static func image(width: Int, height: Int, patch: (x: Int, y: Int, size: Int), paint: (Int, Int) -> [UInt8]) -> Bitmap {
        var bytes = [UInt8](repeating: 128, count: width * height * 3)
        for y in patch.y..<(patch.y + patch.size) {
            for x in patch.x..<(patch.x + patch.size) {
                let i = (y * width + x) * 3
                let colour = paint(x, y)
                bytes[i] = colour[0]
                bytes[i + 1] = colour[1]
                bytes[i + 2] = colour[2]
            }
        }
        return Bitmap(width: width, height: height, channels: 3, bytes: bytes)
    }

    @Test("attention puts a cover crop over the detailed part of a wide image, not the middle", arguments: [40, 520])
    func attentionFindsDetail(patchX: Int) {
        // A checkerboard patch on flat grey: its edges are the only interest.
        let bitmap = Self.image(width: 640, height: 200, patch: (patchX, 60, 80)) { x, y in (x / 4 + y / 4) % 2 == 0 ? [0, 0, 0] : [255, 255, 255] }
        let region = SmartCrop.region(in: bitmap, width: 200, height: 200, gravity: .attention)
        #expect(region.width == 200 && region.height == 200 && region.y == 0)
        #expect(region.x <= Double(patchX) && region.x + 200 >= Double(patchX + 80), "the crop \(region) holds the patch at \(patchX)")
        #expect(SmartCrop.region(in: bitmap, width: 200, height: 200, gravity: .center).x == 220)
    }

    @Test("attention prefers skin tones over flat colour, along the height of a tall image")
    func attentionFindsSkin() {
        // A smooth skin-coloured square near the bottom of a tall, flat blue-grey image.
        let bitmap = Self.image(width: 120, height: 600, patch: (20, 440, 80)) { _, _ in [224, 172, 138] }
        let region = SmartCrop.region(in: bitmap, width: 120, height: 200, gravity: .attention)
        #expect(region.x == 0 && region.y >= 320 && region.y <= 440, "\(region)")
    }

    @Test("entropy chooses the window with the most varied luminance")
    func entropyFindsVariety() {
        // A gradient of grey levels in a patch on the left of a flat image.
        let bitmap = Self.image(width: 600, height: 150, patch: (10, 10, 130)) { x, y in [UInt8((x * 7 + y * 3) % 256), UInt8((x * 7 + y * 3) % 256), UInt8((x * 7 + y * 3) % 256)] }
        let region = SmartCrop.region(in: bitmap, width: 150, height: 150, gravity: .entropy)
        #expect(region.x <= 10 && region.x + 150 >= 140, "\(region)")
    }

    @Test("a crop that crops nothing, or a centred gravity, needs no pixels and is the middle")
    func noCrop() {
        let bitmap = Self.image(width: 100, height: 100, patch: (0, 0, 10)) { _, _ in [0, 0, 0] }
        #expect(SmartCrop.region(in: bitmap, width: 100, height: 100, gravity: .attention) == Region(x: 0, y: 0, width: 100, height: 100))
        #expect(!Gravity.center.needsPixels && !Gravity.focus(x: 0.5, y: 0.5).needsPixels && Gravity.entropy.needsPixels)
    }

    @Test("a focal point centres the cover crop on it, clamped to the image; given upright, it follows the EXIF orientation")
    func focalPoint() {
        let spec = ThumbnailSpec(box: Size(width: 100, height: 100), fit: .cover, gravity: .focus(x: 0.9, y: 0.5))
        let plan = ThumbnailGeometry.plan(source: Size(width: 400, height: 200), spec: spec)
        // Scale 0.5: the region is 200x200 and would centre on x=360; clamped to the right edge.
        #expect(plan.sourceRegion == Region(x: 200, y: 0, width: 200, height: 200))
        let left = ThumbnailGeometry.plan(source: Size(width: 400, height: 200),
                                          spec: ThumbnailSpec(box: Size(width: 100, height: 100), fit: .cover, gravity: .focus(x: 0.3, y: 0.5)))
        #expect(left.sourceRegion == Region(x: 20, y: 0, width: 200, height: 200))
        // Orientation 6 (shown turned a quarter clockwise): the displayed top is the stored left.
        let turned = ThumbnailGeometry.plan(source: Size(width: 400, height: 200), orientation: .right,
                                            spec: ThumbnailSpec(box: Size(width: 100, height: 100), fit: .cover, gravity: .focus(x: 0.5, y: 0.0)))
        #expect(turned.sourceRegion.x == 0)
        for orientation in Orientation.allCases {
            let middle = orientation.storedPoint(x: 0.5, y: 0.5)
            #expect(middle.x == 0.5 && middle.y == 0.5)
        }
    }

    @Test("fill stretches to the box on each axis, never up")
    func fill() {
        let plan = ThumbnailGeometry.plan(source: Size(width: 400, height: 200), spec: ThumbnailSpec(box: Size(width: 100, height: 100), fit: .fill))
        #expect(plan.targetSize == Size(width: 100, height: 100) && plan.sourceRegion == Region(x: 0, y: 0, width: 400, height: 200))
        let small = ThumbnailGeometry.plan(source: Size(width: 50, height: 400), spec: ThumbnailSpec(box: Size(width: 100, height: 100), fit: .fill))
        #expect(small.targetSize == Size(width: 50, height: 100))
    }
}
