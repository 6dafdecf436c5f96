import AtomicFiles
import CacheStore
import Foundation

/// What an export did.
public struct ExportReport: Codable, Sendable {
    /// Manifest entries written.
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
/// Idempotent and resumable: files already there with the right size are left alone (an export
/// stopped half-way costs a `stat` per file done when run again), and the manifest is rewritten
/// only when its bytes change. A ledger (`.imgcache-export.json`, a name per line) records what
/// the export put in the folder, so a later export removes exactly those files that are no
/// longer cached, and nothing else.
public enum Exporter {
    public static let ledgerName = ".imgcache-export.json"

    /// The cache folder `cacheDirectory` with its own index and files.
    public static func export(cacheDirectory: String, variants: [Variant], outputDirectory: String,
                              manifestPath: String? = nil, baseURL: String = "/img/", seed: String? = nil) throws(CacheError) -> ExportReport {
        try export(Cache.open(directory: cacheDirectory, for: .reading), variants: variants, outputDirectory: outputDirectory,
                   manifestPath: manifestPath, baseURL: baseURL, seed: seed)
    }

    /// Files in a bucket are downloaded; local files are hard-linked when the output is on the
    /// same filesystem. The index is read a page at a time: the manifest is written to a file
    /// as each page is published, so an export of a million images holds one page of them (and
    /// a set of 8-byte hashes of the names it published, for the removal step).
    public static func export(_ cache: Cache, variants: [Variant], outputDirectory: String,
                              manifestPath: String? = nil, baseURL: String = "/img/",
                              seed: String? = nil, variantServer: String = "") throws(CacheError) -> ExportReport {
        do {
            try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
        } catch {
            throw CacheError(.io, "cannot create \(outputDirectory): \(error.localizedDescription)", cause: error)
        }
        let base = baseURL.hasSuffix("/") ? baseURL : baseURL + "/"
        // On-demand variants are made by a server: their srcset URLs start with its address.
        let srcset = try? VariantURLs(cache.configuration.onDemand, base: variantServer)
        let writer = ManifestWriter(index: cache.index, variants: variants, scope: seed.map(SeedScope.file) ?? .all,
                                    srcset: srcset) { base + fileName($0) }
        let manifestFile = manifestPath ?? (outputDirectory as NSString).appendingPathComponent("manifest.json")
        let ledgerPath = (outputDirectory as NSString).appendingPathComponent(ledgerName)
        var report = ExportReport()
        report.manifestPath = manifestFile
        let manifest: StagedFile, ledger: StagedFile
        do {
            (manifest, ledger) = (try StagedFile(replacing: manifestFile), try StagedFile(replacing: ledgerPath))
        } catch { throw CacheError(.io, error.message, cause: error) }
        var published = Set<Int>()
        do {
            report.images = try writer.write(to: manifest.append) { contents, images in
                // A file two URLs share (one original) is published once.
                let files = publishedFiles(images, of: contents, base: base).filter { !published.contains($0.name.hashValue) }
                for (name, record) in files {
                    try publish(record.blobKey, bytes: record.bytes, from: cache.store, as: name, in: outputDirectory, report: &report)
                    published.insert(name.hashValue)
                    try ledger.append(Data((name + "\n").utf8))
                }
                report.files += files.count
            }
        } catch {
            manifest.discard()
            ledger.discard()
            throw CacheError.wrapping(error)
        }
        // Remove what an earlier export put here and is no longer published; nothing else.
        try forEachLedgerName(ledgerPath) { name in
            if !published.contains(name.hashValue) && !name.contains("/") && !name.hasPrefix(".")
                && unlink((outputDirectory as NSString).appendingPathComponent(name)) == 0 { report.removed += 1 }
        }
        do {
            try ledger.commit()
            report.manifestWritten = try manifest.commit()
        } catch { throw CacheError(.io, error.message, cause: error) }
        return report
    }

    static func fileName(_ record: ThumbnailRecord) -> String { record.key + "." + record.fileExtension }

    /// The files one page's manifest entries name, by name, with their rows.
    private static func publishedFiles(_ images: [(url: String, image: Manifest.Image)], of contents: IndexContents,
                                       base: String) -> [(name: String, record: ThumbnailRecord)] {
        var records: [String: ThumbnailRecord] = [:]
        for record in contents.thumbnails.values.joined() { records[fileName(record)] = record }
        var names = Set<String>()
        for (_, image) in images {
            for variant in image.variants.values { for format in variant.formats { names.insert(String(format.url.dropFirst(base.count))) } }
        }
        return names.sorted().compactMap { name in records[name].map { (name, $0) } }
    }

    /// The names in an export's ledger, one by one: a line each, or (an export before 0.27) a JSON array.
    static func forEachLedgerName(_ path: String, _ body: (String) throws -> Void) throws(CacheError) {
        guard let file = fopen(path, "r") else { return }
        defer { fclose(file) }
        if fgetc(file) == Int32(UInt8(ascii: "[")) {
            let names = FileManager.default.contents(atPath: path).flatMap { try? JSONDecoder().decode([String].self, from: $0) } ?? []
            do { for name in names { try body(name) } } catch { throw CacheError.wrapping(error) }
            return
        }
        rewind(file)
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            let name = String(cString: line).trimmingCharacters(in: .newlines)
            do { if !name.isEmpty { try body(name) } } catch { throw CacheError.wrapping(error) }
        }
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
