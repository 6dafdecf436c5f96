extension Bitmap {
    /// The bitmap without its alpha channel, composited over a uniform `background` level
    /// (255: white). Bitmaps without alpha come back unchanged.
    public func flattened(background: UInt8 = 255) -> Bitmap {
        guard hasAlphaChannel else { return self }
        let colours = channels - 1
        let out = Bitmap(width: width, height: height, channels: colours)
        let src = storage.pointer, dst = out.storage.pointer
        let backdrop = UInt32(background)
        for i in 0..<(width * height) {
            let s = src + i * channels, d = dst + i * colours
            let a = UInt32(s[colours])
            for c in 0..<colours {
                d[c] = UInt8((UInt32(s[c]) * a + backdrop * (255 - a) + 127) / 255)
            }
        }
        return out
    }
}
