import AtomicFiles
import CacheStore
import Foundation

/// What an export did.
public struct ExportReport: Codable, Sendable {
    public var images = 0
    public var files = 0
    public var linked = 0
    public var copied = 0
    public var unchanged = 0
    public var removed = 0
    public var manifestWritten = false
    public var manifestPath = ""
}

/// `imgcache export`: publishes the cached thumbnails into a folder a static site generator
/// serves, under content-hashed names (the thumbnail key: hash of the original's digest, the
/// variant spec and the pipeline version), and writes the manifest with URLs under a base URL.
///
/// Idempotent: files already there with the right size are left alone, and the manifest is
/// rewritten only when its bytes change. A ledger (`.imgcache-export.json`) records what the
/// export put in the folder, so a later export removes exactly those files that are no longer
/// cached, and nothing else.
public enum Exporter {
    public static let ledgerName = ".imgcache-export.json"

    /// The cache folder `cacheDirectory` with its own index and files.
    public static func export(cacheDirectory: String, variants: [Variant], outputDirectory: String,
                              manifestPath: String? = nil, baseURL: String = "/img/", seed: String? = nil) throws(CacheError) -> ExportReport {
        try export(Cache.open(directory: cacheDirectory, for: .reading), variants: variants, outputDirectory: outputDirectory,
                   manifestPath: manifestPath, baseURL: baseURL, seed: seed)
    }

    /// Files in a bucket are downloaded; local files are hard-linked when the output is on the
    /// same filesystem.
    public static func export(_ cache: Cache, variants: [Variant], outputDirectory: String,
                              manifestPath: String? = nil, baseURL: String = "/img/",
                              seed: String? = nil, variantServer: String = "") throws(CacheError) -> ExportReport {
        let (index, store) = (cache.index, cache.store)
        do {
            try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
        } catch {
            throw CacheError(.io, "cannot create \(outputDirectory): \(error.localizedDescription)", cause: error)
        }
        let base = baseURL.hasSuffix("/") ? baseURL : baseURL + "/"
        func fileName(_ record: ThumbnailRecord) -> String { record.key + "." + record.fileExtension }
        // On-demand variants are made by a server: their srcset URLs start with its address.
        let srcset = try? VariantURLs(cache.configuration.onDemand, base: variantServer)
        let manifest = try Manifest.build(index: index, variants: variants, seed: seed, srcset: srcset) { base + fileName($0) }

        var report = ExportReport()
        report.images = manifest.images.count
        // Every thumbnail the manifest names, with its cache path.
        var wanted: [String: (key: BlobKey, bytes: Int)] = [:]
        for record in try index.allThumbnails() {
            wanted[fileName(record)] = (record.blobKey, record.bytes)
        }
        let published = Set(manifest.images.values.flatMap { image in
            image.variants.values.flatMap { variant in variant.formats.map { String($0.url.dropFirst(base.count)) } }
        })
        wanted = wanted.filter { published.contains($0.key) }
        report.files = wanted.count

        for (name, file) in wanted.sorted(by: { $0.key < $1.key }) {
            try publish(file.key, bytes: file.bytes, from: store, as: name, in: outputDirectory, report: &report)
        }

        // Remove what an earlier export put here and is no longer published; nothing else.
        let ledgerPath = (outputDirectory as NSString).appendingPathComponent(ledgerName)
        let previous = (FileManager.default.contents(atPath: ledgerPath))
            .flatMap { try? JSONDecoder().decode([String].self, from: $0) } ?? []
        for name in previous where wanted[name] == nil && !name.contains("/") && !name.hasPrefix(".") {
            if unlink((outputDirectory as NSString).appendingPathComponent(name)) == 0 { report.removed += 1 }
        }
        let ledger = (try? JSONEncoder().encode(wanted.keys.sorted())) ?? Data("[]".utf8)
        try writeIfChanged(ledger, to: ledgerPath)

        let manifestFile = manifestPath ?? (outputDirectory as NSString).appendingPathComponent("manifest.json")
        report.manifestPath = manifestFile
        report.manifestWritten = try writeIfChanged(manifest.json(), to: manifestFile)
        return report
    }

    @discardableResult
    static func writeIfChanged(_ data: Data, to path: String) throws(CacheError) -> Bool {
        if FileManager.default.contents(atPath: path) == data { return false }
        do { try AtomicFile.write(data, to: path) } catch { throw CacheError(.io, error.message, cause: error) }
        return true
    }
}

extension Exporter {
    /// Puts one thumbnail into the output folder as `name` (hard link, else a copy), unless a
    /// file of its size is there already.
    static func publish(_ key: BlobKey, bytes: Int, from store: any BlobStorage, as name: String, in outputDirectory: String,
                        report: inout ExportReport) throws(CacheError) {
        let destination = (outputDirectory as NSString).appendingPathComponent(name)
        if let size = (try? FileManager.default.attributesOfItem(atPath: destination))?[.size] as? Int, size == bytes {
            report.unchanged += 1
            return
        }
        let temporary = destination + ".tmp-\(getpid())"
        unlink(temporary)
        if let local = store.localFile(key), link(local, temporary) == 0 {
            report.linked += 1
        } else {
            let data = try store.get(key)
            do { try AtomicFile.write(data, to: temporary) } catch { throw CacheError(.io, error.message, cause: error) }
            report.copied += 1
        }
        guard rename(temporary, destination) == 0 else {
            unlink(temporary)
            throw CacheError(.io, "cannot move \(name) into \(outputDirectory): \(String(cString: strerror(errno)))")
        }
    }
}
