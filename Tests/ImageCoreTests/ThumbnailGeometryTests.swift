import ImageCore
import Testing

@Suite("Thumbnail geometry")
struct ThumbnailGeometryTests {
    let box320 = ThumbnailSpec(box: Size(width: 320, height: 320), fit: .inside)

    @Test("fit inside: the limiting side matches the box, the other keeps the aspect")
    func fitInsideLandscape() {
        let plan = ThumbnailGeometry.plan(source: Size(width: 4607, height: 3648), spec: box320)
        #expect(plan.targetSize == Size(width: 320, height: 253))  // 3648 * 320 / 4607 = 253.4
        #expect(plan.sourceRegion == Region(x: 0, y: 0, width: 4607, height: 3648))
        #expect(plan.orientedSize == plan.targetSize)
    }

    @Test("fit inside: portrait and rounding up")
    func fitInsidePortrait() {
        let plan = ThumbnailGeometry.plan(source: Size(width: 2737, height: 3797), spec: box320)
        #expect(plan.targetSize == Size(width: 231, height: 320))  // 2737 * 320 / 3797 = 230.66
    }

    @Test("aspect ratio is kept within one pixel", arguments: [
        Size(width: 1000, height: 1), Size(width: 1, height: 1000), Size(width: 333, height: 777),
        Size(width: 4032, height: 3024), Size(width: 641, height: 359), Size(width: 5000, height: 4999),
    ])
    func aspectWithinOnePixel(source: Size) {
        let plan = ThumbnailGeometry.plan(source: source, spec: box320)
        let exactHeight = Double(plan.targetSize.width) * Double(source.height) / Double(source.width)
        let exactWidth = Double(plan.targetSize.height) * Double(source.width) / Double(source.height)
        #expect(abs(Double(plan.targetSize.height) - exactHeight) <= 1 || abs(Double(plan.targetSize.width) - exactWidth) <= 1)
        #expect(plan.targetSize.width <= 320 && plan.targetSize.height <= 320)
        #expect(plan.targetSize.width >= 1 && plan.targetSize.height >= 1)
    }

    @Test("never upscales: a small image keeps its size")
    func noUpscaleInside() {
        let plan = ThumbnailGeometry.plan(source: Size(width: 200, height: 100), spec: box320)
        #expect(plan.targetSize == Size(width: 200, height: 100))
        #expect(plan.isIdentity)
        #expect(plan.jpegScaleDenominator == 1)
    }

    @Test("cover: fills the box exactly and crops the centre")
    func coverCropsCentre() {
        let spec = ThumbnailSpec(box: Size(width: 640, height: 360), fit: .cover)
        let plan = ThumbnailGeometry.plan(source: Size(width: 2000, height: 2000), spec: spec)
        #expect(plan.targetSize == Size(width: 640, height: 360))
        // Scale 0.32: the region is 2000 wide and 360/0.32 = 1125 high, centred.
        #expect(plan.sourceRegion.width == 2000)
        #expect(abs(plan.sourceRegion.height - 1125) < 1e-9)
        #expect(abs(plan.sourceRegion.y - 437.5) < 1e-9)
        #expect(plan.sourceRegion.x == 0)
    }

    @Test("cover never upscales: a small image is cropped at 1:1 to the box where it can be")
    func coverNoUpscale() {
        let spec = ThumbnailSpec(box: Size(width: 320, height: 320), fit: .cover)
        let plan = ThumbnailGeometry.plan(source: Size(width: 500, height: 200), spec: spec)
        #expect(plan.targetSize == Size(width: 320, height: 200))
        #expect(plan.sourceRegion == Region(x: 90, y: 0, width: 320, height: 200))
        #expect(plan.shrink == 1)
    }

    @Test("the box applies to the displayed image: orientation 6 swaps it")
    func orientationSwapsBox() {
        let spec = ThumbnailSpec(box: Size(width: 640, height: 360), fit: .inside)
        // Stored 1800x1200, displayed 1200x1800 (portrait): limited by the box height 360.
        let plan = ThumbnailGeometry.plan(source: Size(width: 1800, height: 1200), orientation: .right, spec: spec)
        #expect(plan.orientedSize == Size(width: 240, height: 360))
        #expect(plan.targetSize == Size(width: 360, height: 240))
    }

    @Test("shrink-on-load leaves at least 2x for the resampler", arguments: [
        (1.0, 1), (3.99, 1), (4.0, 2), (7.99, 2), (8.0, 4), (15.9, 4), (16.0, 8), (40.0, 8),
    ])
    func jpegScale(shrink: Double, denominator: Int) {
        #expect(ThumbnailGeometry.jpegScaleDenominator(forShrink: shrink) == denominator)
        if denominator > 1 { #expect(shrink / Double(denominator) >= 2) }
    }

    @Test("the plan picks the scale from the whole reduction")
    func planScale() {
        #expect(ThumbnailGeometry.plan(source: Size(width: 4607, height: 3648), spec: box320).jpegScaleDenominator == 4)
        #expect(ThumbnailGeometry.plan(source: Size(width: 6000, height: 4000), spec: box320).jpegScaleDenominator == 8)
        #expect(ThumbnailGeometry.plan(source: Size(width: 1800, height: 1200), spec: box320).jpegScaleDenominator == 2)
    }

    @Test("libjpeg's scaled size rounds up")
    func scaledSize() {
        #expect(ThumbnailGeometry.jpegScaledSize(Size(width: 4607, height: 3648), denominator: 4) == Size(width: 1152, height: 912))
        #expect(ThumbnailGeometry.jpegScaledSize(Size(width: 1, height: 9), denominator: 8) == Size(width: 1, height: 2))
    }

    @Test("sizes parse from WxH")
    func parseSize() {
        #expect(Size(parsing: "640x360") == Size(width: 640, height: 360))
        #expect(Size(parsing: "320") == Size(width: 320, height: 320))
        #expect(Size(parsing: "0x10") == nil)
        #expect(Size(parsing: "axb") == nil)
        #expect(Size(parsing: "1x2x3") == nil)
    }
}
