import Foundation
import ImageCodecs
import ImageCore

/// A finished thumbnail and how it was made.
public struct Thumbnail: Sendable {
    /// The encoded file.
    public var data: Data
    public var format: ImageFormat
    /// The thumbnail's size as displayed.
    public var size: Size
    /// The source's header.
    public var source: ImageInfo
    public var plan: ThumbnailPlan
    /// Set when the caller's declared size disagreed with the image; the image's size won.
    public var dimensionMismatch: DimensionMismatch?
    /// Corrupt-data warnings the decoder recovered from (lenient mode).
    public var warnings: Int
    /// The pixels, upright, before encoding (for placeholders).
    public var bitmap: Bitmap
    /// The source's colour description and whether its pixels were converted to sRGB.
    public var color: ColorReport
}

/// Declared (for example in seed metadata) versus actual displayed size.
public struct DimensionMismatch: Hashable, Sendable, CustomStringConvertible {
    public var declared: Size
    public var actual: Size

    public init(declared: Size, actual: Size) {
        self.declared = declared
        self.actual = actual
    }

    public var description: String { "declared \(declared), actual \(actual)" }
}

/// The thumbnail pipeline: probe -> check limits -> plan -> decode with shrink-on-load and
/// conversion to sRGB -> resample -> orient -> encode (once per format of a size).
public enum Thumbnailer {
    /// Makes one thumbnail from an encoded image.
    ///
    /// - Parameter declaredSize: the displayed size the caller believes the image has. The
    ///   plan is made from it; if the header disagrees, the header wins and the mismatch is
    ///   returned in the result rather than thrown.
    public static func makeThumbnail(from data: Data, declaredSize: Size? = nil,
                                     options: ThumbnailOptions = ThumbnailOptions()) throws(CodecError) -> Thumbnail {
        try makeThumbnails(from: data, declaredSize: declaredSize, variants: [options])[0]
    }

    /// Makes several thumbnails from one decode: the JPEG is shrunk on load only as far as the
    /// largest variant allows, and every variant is resampled from that one bitmap (or from a
    /// larger variant's). The limits of the first variant's options apply.
    public static func makeThumbnails(from data: Data, declaredSize: Size? = nil,
                                      variants: [ThumbnailOptions]) throws(CodecError) -> [Thumbnail] {
        guard let first = variants.first else { return [] }
        guard data.count <= first.maxInputBytes else {
            throw CodecError(.tooManyBytes, "\(data.count) bytes, over the limit of \(first.maxInputBytes)")
        }
        let info = try checkedProbe(data, limits: first)
        var mismatch: DimensionMismatch?
        if let declaredSize, declaredSize != info.orientedSize {
            mismatch = DimensionMismatch(declared: declaredSize, actual: info.orientedSize)
        }
        let isVector = info.format.entry.isVector
        // A vector image has no pixels to run out of: it is planned as if drawn large enough to fill
        // the largest box, so its thumbnails are drawn at the box's size (never upscaled pixels).
        let planned = isVector ? vectorPlanSize(info.size, boxes: variants.map(\.spec)) : info.size
        var plans = variants.map { options in
            (mismatch == nil && !isVector ? planFromDeclared(declaredSize, info: info, spec: options.spec) : nil)
                ?? ThumbnailGeometry.plan(source: planned, orientation: info.orientation, spec: options.spec)
        }
        var decodeOptions = first.decode
        decodeOptions.jpegScaleDenominator = info.format == .jpeg ? plans.map(\.jpegScaleDenominator).min() ?? 1 : 1
        let largest = plans.max { $0.targetSize.pixelCount < $1.targetSize.pixelCount }!
        if isVector { decodeOptions.renderSize = vectorSize(planned, plan: largest) }
        let decoded = try ImageDecoder.decode(data, options: decodeOptions)
        // An attention or entropy crop is placed by looking at the decoded pixels.
        plans = zip(plans, variants).map { plan, options in smartCropped(plan, in: decoded.bitmap, sourceSize: planned, spec: options.spec) }
        // Largest first: a smaller variant is resampled from a larger whole-frame one when that
        // still leaves at least 2x of reduction, which costs a fraction of going back to the decode.
        var sources = [decoded.bitmap]
        // The formats of one size share its pixels: resampled once, encoded once per format.
        var upright: [ThumbnailPlan: Bitmap] = [:]
        var thumbnails = [Thumbnail?](repeating: nil, count: variants.count)
        for position in plans.indices.sorted(by: { plans[$0].targetSize.pixelCount > plans[$1].targetSize.pixelCount }) {
            let plan = plans[position]
            let bitmap: Bitmap
            if let done = upright[plan] {
                bitmap = done
            } else {
                // A vector image is drawn at each plan's own scale, never resampled from another size.
                let source = isVector && vectorSize(planned, plan: plan) != decoded.bitmap.size
                    ? try drawing(data, at: vectorSize(planned, plan: plan), options: decodeOptions)
                    : smallestSource(in: sources, for: plan, sourceSize: planned)
                let rendered = render(source, sourceSize: planned, plan: plan)
                if plan.sourceRegion == Region(size: planned) && rendered.size != source.size { sources.append(rendered) }
                bitmap = rendered.applying(info.orientation)
                upright[plan] = bitmap
            }
            let options = variants[position]
            // An animation's WebP (GIF, WebP, APNG) is animated (the other formats, and `animate: false`, take the first frame).
            let animated = AnimationFrames.reads(info.format) && info.frames > 1 && options.animate && options.format == .webp
            let (encoded, format) = animated ? (try animatedWebP(from: data, info: info, plan: plan, options: options), ImageFormat.webp)
                                             : try encode(bitmap, options: options)
            thumbnails[position] = Thumbnail(data: encoded, format: format, size: bitmap.size, source: info, plan: plan,
                                             dimensionMismatch: mismatch, warnings: decoded.warnings, bitmap: bitmap,
                                             color: decoded.color)
        }
        return thumbnails.compactMap { $0 }  // every rendition has been made by now
    }

    /// The header, refused when it declares an empty image or more pixels than the limit (a vector
    /// image's declared size allocates nothing: what is drawn is checked when it is drawn).
    static func checkedProbe(_ data: Data, limits: ThumbnailOptions) throws(CodecError) -> ImageInfo {
        let info = try ImageDecoder.probe(data)
        guard info.size.pixelCount > 0 else { throw CodecError(.corrupt, "the header declares an empty image") }
        guard info.format.entry.isVector || info.size.pixelCount <= limits.decode.maxPixels else {
            throw CodecError(.tooManyPixels, "\(info.size) is \(info.size.pixelCount) pixels, over the limit of \(limits.decode.maxPixels)")
        }
        return info
    }

    /// Every frame of an animation (GIF, WebP, APNG), composited, cropped and resampled by `plan` one at a time,
    /// into an animated WebP with the source's timing and loop count.
    static func animatedWebP(from data: Data, info: ImageInfo, plan: ThumbnailPlan, options: ThumbnailOptions) throws(CodecError) -> Data {
        let frames = try AnimationFrames(data, options: options.decode)
        let encoder = try AnimatedWebPEncoder(size: plan.targetSize, loopCount: info.loopCount, quality: options.quality,
                                              method: ThumbnailOptions.webpMethod)
        var time = 0
        while let frame = try frames.next() {
            try encoder.add(render(frame.bitmap, sourceSize: info.size, plan: plan), at: time)
            time += frame.milliseconds
        }
        return try encoder.finish(at: time)
    }

    /// A vector image's intrinsic size scaled up (never down) until it fills the largest box as
    /// its fit asks; the aspect ratio kept.
    static func vectorPlanSize(_ size: Size, boxes: [ThumbnailSpec]) -> Size {
        let scale = boxes.map { spec in
            let x = Double(spec.box.width) / Double(size.width), y = Double(spec.box.height) / Double(size.height)
            return spec.fit == .inside ? min(x, y) : max(x, y)  // cover and fill fill the box
        }.max() ?? 1
        guard scale > 1 else { return size }
        return Size(width: max(1, Int((Double(size.width) * scale).rounded())), height: max(1, Int((Double(size.height) * scale).rounded())))
    }

    /// The size to draw a whole vector image at so that the plan's region of it is its target size.
    static func vectorSize(_ source: Size, plan: ThumbnailPlan) -> Size {
        if plan.sourceRegion == Region(size: source) { return plan.targetSize }
        let x = Double(plan.targetSize.width) / plan.sourceRegion.width, y = Double(plan.targetSize.height) / plan.sourceRegion.height
        return Size(width: max(1, Int((Double(source.width) * x).rounded())), height: max(1, Int((Double(source.height) * y).rounded())))
    }

    /// A vector image drawn whole at `size`.
    static func drawing(_ data: Data, at size: Size, options: DecodeOptions) throws(CodecError) -> Bitmap {
        var options = options
        options.renderSize = size
        return try ImageDecoder.decode(data, options: options).bitmap
    }

    /// The smallest whole-frame bitmap whose part for `plan` is at least twice the target size.
    static func smallestSource(in sources: [Bitmap], for plan: ThumbnailPlan, sourceSize: Size) -> Bitmap {
        var best = sources[0]
        for candidate in sources.dropFirst() {
            let region = plan.sourceRegion.scaled(x: Double(candidate.width) / Double(sourceSize.width),
                                                  y: Double(candidate.height) / Double(sourceSize.height))
            if region.width >= 2 * Double(plan.targetSize.width) && region.height >= 2 * Double(plan.targetSize.height)
                && candidate.size.pixelCount < best.size.pixelCount {
                best = candidate
            }
        }
        return best
    }

    /// `plan` with its crop moved where `spec`'s gravity says, when that needs the pixels
    /// (`bitmap`, the decode of a `sourceSize` image, maybe shrunk on load).
    static func smartCropped(_ plan: ThumbnailPlan, in bitmap: Bitmap, sourceSize: Size, spec: ThumbnailSpec) -> ThumbnailPlan {
        guard spec.fit == .cover, spec.gravity.needsPixels, plan.sourceRegion != Region(size: sourceSize) else { return plan }
        let sx = Double(bitmap.width) / Double(sourceSize.width), sy = Double(bitmap.height) / Double(sourceSize.height)
        let chosen = SmartCrop.region(in: bitmap, width: plan.sourceRegion.width * sx, height: plan.sourceRegion.height * sy,
                                      gravity: spec.gravity)
        var plan = plan
        plan.sourceRegion = chosen.scaled(x: 1 / sx, y: 1 / sy)
        return plan
    }

    /// The plan from declared metadata alone (before any pixel is decoded).
    static func planFromDeclared(_ declared: Size?, info: ImageInfo, spec: ThumbnailSpec) -> ThumbnailPlan? {
        guard let declared, declared.width > 0, declared.height > 0 else { return nil }
        let stored = info.orientation.orientedSize(declared)  // displayed -> stored (a swap is its own inverse)
        return ThumbnailGeometry.plan(source: stored, orientation: info.orientation, spec: spec)
    }

    /// Crops and resamples a (possibly shrunk-on-load) decode to the plan's target size.
    static func render(_ bitmap: Bitmap, sourceSize: Size, plan: ThumbnailPlan) -> Bitmap {
        let region = plan.sourceRegion.scaled(
            x: Double(bitmap.width) / Double(sourceSize.width),
            y: Double(bitmap.height) / Double(sourceSize.height))
        if bitmap.size == plan.targetSize && region == Region(size: bitmap.size) { return bitmap }
        return Resampler.resample(bitmap, region: region, to: plan.targetSize)
    }

    static func encode(_ bitmap: Bitmap, options: ThumbnailOptions) throws(CodecError) -> (Data, ImageFormat) {
        let transparent = bitmap.hasTransparency
        let format = options.format.resolved(transparent: transparent)
        // An alpha channel that is fully opaque carries nothing: drop it (smaller files).
        let pixels = bitmap.hasAlphaChannel && (!transparent || format == .jpeg) ? bitmap.flattened() : bitmap
        let data = try ImageEncoder.encode(pixels, as: format, quality: options.quality,
                                           webpMethod: ThumbnailOptions.webpMethod, avifSpeed: ThumbnailOptions.avifSpeed)
        return (data, format)
    }
}
