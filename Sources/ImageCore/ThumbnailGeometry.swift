/// The plan for one thumbnail, made from the source's size alone (no pixels needed), so it
/// can be made from declared metadata before anything is decoded.
///
/// All coordinates are in the source's *stored* orientation; `orientedSize` is what the
/// viewer sees once the EXIF orientation has been applied to the result.
public struct ThumbnailPlan: Hashable, Sendable {
    /// The source's stored size the plan was made for.
    public var sourceSize: Size
    /// The part of the source that ends up in the thumbnail (all of it for `.inside`).
    public var sourceRegion: Region
    /// The thumbnail's size before orientation is applied.
    public var targetSize: Size
    /// The thumbnail's size as displayed.
    public var orientedSize: Size
    /// libjpeg shrink-on-load denominator (1, 2, 4 or 8): leaves at least 2x for the resampler.
    public var jpegScaleDenominator: Int
    /// Source pixels per thumbnail pixel (1 when no reduction happens).
    public var shrink: Double

    /// True when the region is copied as it is (no crop, no resize).
    public var isIdentity: Bool {
        targetSize == sourceSize && sourceRegion == Region(size: sourceSize)
    }
}

/// Thumbnail geometry as pure functions, in the manner of libvips'
/// `vips_thumbnail_calculate_shrink`.
public enum ThumbnailGeometry {
    /// Plans a thumbnail of a `source`-sized image (stored orientation) shown with `orientation`.
    public static func plan(source: Size, orientation: Orientation = .up, spec: ThumbnailSpec) -> ThumbnailPlan {
        precondition(source.width > 0 && source.height > 0, "source must not be empty")
        // The box applies to the displayed image; turn it into stored coordinates.
        let box = orientation.swapsDimensions ? spec.box.transposed : spec.box
        let sw = Double(source.width), sh = Double(source.height)
        let bw = Double(box.width), bh = Double(box.height)

        let target: Size
        let region: Region
        let scale: Double
        switch spec.fit {
        case .inside:
            scale = min(bw / sw, bh / sh, 1)
            if scale >= 1 {
                target = source
            } else if bw / sw <= bh / sh {
                // Width is the limiting side: it matches the box exactly.
                target = Size(width: box.width, height: clampedRound(sh * scale, upTo: box.height))
            } else {
                target = Size(width: clampedRound(sw * scale, upTo: box.width), height: box.height)
            }
            region = Region(size: source)
        case .cover:
            scale = min(max(bw / sw, bh / sh), 1)
            target = Size(width: min(box.width, clampedRound(sw * scale, upTo: source.width)),
                          height: min(box.height, clampedRound(sh * scale, upTo: source.height)))
            let rw = min(sw, Double(target.width) / scale)
            let rh = min(sh, Double(target.height) / scale)
            var centre = (x: sw / 2, y: sh / 2)
            if case .focus(let fx, let fy) = spec.gravity {
                let point = orientation.storedPoint(x: fx, y: fy)
                centre = (point.x * sw, point.y * sh)
            }
            region = Region(x: min(max(0, centre.x - rw / 2), sw - rw), y: min(max(0, centre.y - rh / 2), sh - rh), width: rw, height: rh)
        case .fill:
            // Each axis on its own, never up.
            target = Size(width: min(box.width, source.width), height: min(box.height, source.height))
            scale = max(Double(target.width) / sw, Double(target.height) / sh)
            region = Region(size: source)
        }
        let shrink = 1 / scale
        return ThumbnailPlan(
            sourceSize: source, sourceRegion: region, targetSize: target,
            orientedSize: orientation.swapsDimensions ? target.transposed : target,
            jpegScaleDenominator: jpegScaleDenominator(forShrink: shrink), shrink: shrink)
    }

    /// The largest libjpeg scale (1/8, 1/4, 1/2) that still leaves at least a factor of two
    /// for the final high-quality resample: DCT scaling alone aliases.
    public static func jpegScaleDenominator(forShrink shrink: Double) -> Int {
        if shrink >= 16 { return 8 }
        if shrink >= 8 { return 4 }
        if shrink >= 4 { return 2 }
        return 1
    }

    /// The size libjpeg produces for a `denominator` shrink-on-load (it rounds up).
    public static func jpegScaledSize(_ size: Size, denominator: Int) -> Size {
        Size(width: (size.width + denominator - 1) / denominator,
             height: (size.height + denominator - 1) / denominator)
    }

    private static func clampedRound(_ value: Double, upTo limit: Int) -> Int {
        min(max(1, Int(value.rounded())), limit)
    }
}
