import Foundation
import ImageCore

/// Locates the fixture corpus in `Tests/Fixtures` and reads its manifest.
public enum Fixtures {
    /// `Tests/Fixtures/corpus`, found from this source file's path (works from any cwd).
    public static let corpus: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/corpus")

    /// The repository's root folder (for `seeds/`).
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static func url(_ relativePath: String) -> URL { corpus.appendingPathComponent(relativePath) }

    public static func data(_ relativePath: String) throws -> Data { try Data(contentsOf: url(relativePath)) }

    /// One line of `MANIFEST.tsv`.
    public struct Entry: Sendable, CustomStringConvertible {
        public var path: String
        public var format: String
        /// Declared size, when the manifest gives one.
        public var size: Size?
        /// "valid", "corrupt" or "bomb".
        public var expected: String
        public var probe: String
        public var description: String { path }
    }

    public static let manifest: [Entry] = {
        guard let text = try? String(contentsOf: corpus.appendingPathComponent("MANIFEST.tsv"), encoding: .utf8) else {
            return []
        }
        return text.split(separator: "\n").dropFirst().compactMap { line in
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 10 else { return nil }
            let size = Int(f[3]).flatMap { w in Int(f[4]).map { Size(width: w, height: $0) } }
            return Entry(path: f[0], format: f[2], size: size, expected: f[5], probe: f[9])
        }
    }()

    public static func entries(where predicate: (Entry) -> Bool) -> [Entry] { manifest.filter(predicate) }
}

/// A fresh temporary directory, removed when the value is dropped.
public final class TemporaryDirectory: @unchecked Sendable {
    public let url: URL
    public var path: String { url.path }

    public init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("imgcache-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Pixel comparisons for tests.
public enum PixelMath {
    /// Mean absolute difference per sample (0...255) of two same-shaped bitmaps.
    public static func meanAbsoluteDifference(_ a: Bitmap, _ b: Bitmap) -> Double {
        precondition(a.width == b.width && a.height == b.height && a.channels == b.channels, "shapes differ")
        let x = a.bytes, y = b.bytes
        var total = 0
        for i in 0..<x.count { total += abs(Int(x[i]) - Int(y[i])) }
        return Double(total) / Double(max(1, x.count))
    }

    /// Pixels as RGBA bytes (an RGB bitmap gets alpha 255).
    public static func rgba(_ bitmap: Bitmap) -> [UInt8] {
        guard bitmap.channels == 3 else { return bitmap.bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bitmap.width * bitmap.height * 4)
        for (index, byte) in bitmap.bytes.enumerated() {
            out.append(byte)
            if index % 3 == 2 { out.append(255) }
        }
        return out
    }

    /// Mean of each channel over the whole bitmap.
    public static func channelMeans(_ bitmap: Bitmap) -> [Double] {
        var sums = [Double](repeating: 0, count: bitmap.channels)
        let bytes = bitmap.bytes
        for i in 0..<bytes.count { sums[i % bitmap.channels] += Double(bytes[i]) }
        return sums.map { $0 / Double(bitmap.width * bitmap.height) }
    }
}
