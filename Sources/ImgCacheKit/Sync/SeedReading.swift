import CacheStore
import Foundation
import SeedDocuments

/// The seeds step of an incremental sync: each file is looked at (a `stat`) against what the
/// index remembers of it; only a new or changed file is read and parsed, and the index's
/// references are updated for those alone. An unchanged file costs no read: its references and
/// its problems come from the index.
extension Syncer {
    /// What the seeds step found.
    struct SeedRead {
        /// Documents parsed now (new or changed files), kept only for the write-back.
        var documents: [SeedDocument] = []
        /// The URLs of the documents parsed now (up to `readNowLimit`; past it `manyURLs`, and
        /// the sync takes every referenced URL), and the request URL of those that differ (credentials).
        var urls: Set<String> = []
        var manyURLs = false
        var fetchURLs: [String: String] = [:]
        /// Every file's problems (skipped files and entries), parsed now or remembered, in path order.
        var problems: [String] = []
        /// Seed documents in the folder, files parsed now, files gone since the last sync.
        var seeds = 0
        var changed = 0
        var removed = 0
        /// False when the seeds folder is not there: then nothing is recorded and nothing synced.
        var found = true
    }

    /// What a look at one file says.
    enum SeedFileLook: Sendable {
        /// Same size, time and reader as recorded.
        case unchanged(SeedFileRecord)
        /// A new time, the same bytes: only the time is recorded.
        case touched(SeedFileRecord)
        /// New or changed: parsed now.
        case read(SeedFileRecord, Result<SeedDocument, SeedError>)

        /// The file's record, as it is to be remembered.
        var file: SeedFileRecord {
            switch self {
            case .unchanged(let file), .touched(let file), .read(let file, _): return file
            }
        }
    }

    /// Files looked at, recorded and forgotten together: memory holds one batch, not the folder.
    static let seedBatch = 2_000

    /// Looks at every file under the seeds folder (with `full`, reads every one), a batch at a
    /// time as the walk finds them in path order, and records what changed (one index
    /// transaction per batch with changes). The files the index remembers in a batch's range of
    /// paths and the walk did not find are recorded as gone with it: memory holds one batch and
    /// one page of the index, never the folder's list of files.
    func readSeeds(full: Bool, keepDocuments: Bool) throws(CacheError) -> SeedRead {
        counters.withLock { $0 = (0, 0) }
        store.sweepTemporaryFiles()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: seedsDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
            // Nothing is recorded: a folder that is not there (unmounted, mistyped) must not
            // make every reference vanish.
            return SeedRead(problems: [SeedError(.unreadable, path: seedsDirectory, "not a directory").description], found: false)
        }
        // An index that remembers no file (new, or from before files were remembered) may hold
        // references of files it never saw: they go once every file is recorded.
        let remembersFiles = full ? false : !(try index.seedFilePaths(after: nil, limit: 1)).isEmpty
        var read = SeedRead()
        var gone = full ? nil : RememberedSeedFiles(index: index)
        var batch: [String] = [], number = 0
        let linkErrors = try SeedScanner.walk(under: seedsDirectory) { (path: String) throws(CacheError) in
            batch.append(path)
            guard batch.count == Self.seedBatch else { return }
            try record(batch, replacingAll: full && number == 0, gone: &gone, into: &read, keepDocuments: keepDocuments)
            (batch, number) = ([], number + 1)
        }
        // --full on an empty folder still replaces what was recorded: one empty batch.
        if !batch.isEmpty || (full && number == 0) {
            try record(batch, replacingAll: full && number == 0, gone: &gone, into: &read, keepDocuments: keepDocuments)
        }
        // What the index remembers past the folder's last file, a batch at a time.
        if var remembered = gone {
            var update = SeedFilesUpdate()
            repeat {
                update.removed = try remembered.missing(through: nil, listed: [], limit: Self.seedBatch)
                read.removed += update.removed.count
                if update.changesAnything { try index.recordSeedFiles(update) }
            } while !update.removed.isEmpty
        }
        read.problems = linkErrors.map(\.description) + read.problems
        // Even with nothing changed: the referenced URLs' stamps are renewed (prune's max-age).
        try index.finishSeedFiles(at: Date(), droppingUnknown: !remembersFiles)
        return read
    }

    /// One batch of the walk's files: looked at against the index and recorded, with the files
    /// the index remembers in the batch's range of paths that the walk did not find (`gone` is
    /// nil with --full: every file is read and the records replaced, none compared).
    private func record(_ batch: [String], replacingAll: Bool, gone: inout RememberedSeedFiles?, into read: inout SeedRead,
                        keepDocuments: Bool) throws(CacheError) {
        let known = gone == nil ? [:] : try index.seedFiles(paths: batch)
        var update = fold(look(at: batch, known: known), into: &read, keepDocuments: keepDocuments)
        update.replacesAll = replacingAll
        if var remembered = gone, let last = batch.last {
            update.removed = try remembered.missing(through: last, listed: Set(batch))
            read.removed += update.removed.count
            gone = remembered
        }
        if update.changesAnything { try index.recordSeedFiles(update) }
    }

    /// Looks at `paths` (on every core) against `known`.
    func look(at paths: [String], known: [String: SeedFileRecord]) -> [SeedFileLook] {
        let parser = seedParserSignature, bodyImages = configuration.bodyImages
        let now = Self.nanoseconds(Date())
        return paths.concurrentMap { Self.look(at: $0, known: known[$0], parser: parser, now: now, bodyImages: bodyImages) }
    }

    /// Adds what the looks found to `read`; the index's update for them.
    func fold(_ looks: [SeedFileLook], into read: inout SeedRead, keepDocuments: Bool) -> SeedFilesUpdate {
        var update = SeedFilesUpdate()
        for look in looks {
            switch look {
            case .unchanged:
                break
            case .touched(let file):
                update.touched.append(file)
            case .read(let file, let result):
                update.read.append(file)
                read.changed += 1
                guard case .success(let document) = result else { break }
                for image in document.images {
                    if !read.manyURLs { read.urls.insert(image.url) }
                    if image.fetchURL != image.url, read.fetchURLs[image.url] == nil { read.fetchURLs[image.url] = image.fetchURL }
                }
                if read.urls.count > readNowLimit { (read.manyURLs, read.urls) = (true, []) }
                if keepDocuments { read.documents.append(document) }
                update.references += Self.references(of: document)
            }
            read.problems += look.file.problems
            if look.file.isSeed { read.seeds += 1 }
        }
        return update
    }

    /// Looks at the files of `paths` again (after the write-back changed them) and records them.
    func rerecord(_ paths: [String]) throws(CacheError) {
        var ignored = SeedRead()
        for batch in paths.chunked(Self.seedBatch).map(Array.init) {
            let update = fold(look(at: batch, known: try index.seedFiles(paths: batch)), into: &ignored, keepDocuments: false)
            if update.changesAnything { try index.recordSeedFiles(update) }
        }
    }

    /// A document's references as the index keeps them.
    static func references(of document: SeedDocument) -> [SeedReference] {
        document.images.map {
            SeedReference(seedPath: document.path, url: $0.url, line: $0.line, width: $0.width, height: $0.height,
                          declaredCached: $0.inBody ? nil : $0.isCached, inBody: $0.inBody, focusX: $0.focus?.x, focusY: $0.focus?.y)
        }
    }

    /// The reader and the settings that decide what a file's references are: a change to either
    /// reads every file again.
    /// (v2: `focus: [x, y]` is read.)
    var seedParserSignature: String { "seeds-v2" + (configuration.bodyImages ? "+body" : "") }

    /// One file: a `stat`; a read and a hash only when its size, time or the reader changed (or
    /// its time is within two seconds of when it was read, when a write in the same clock tick
    /// could have gone unseen); a parse only when its bytes changed.
    static func look(at path: String, known: SeedFileRecord?, parser: String, now: Int64, bodyImages: Bool) -> SeedFileLook {
        let stamp = FileStamp(of: path)
        var file = SeedFileRecord(path: path, size: stamp?.size ?? 0, modifiedNanoseconds: stamp?.modified ?? 0, sha256: "",
                                  parser: parser, isSeed: false, problems: [], recordedNanoseconds: now)
        if let known, let stamp, !known.sha256.isEmpty, known.parser == parser, known.size == stamp.size,
           known.modifiedNanoseconds == stamp.modified, stamp.modified < known.recordedNanoseconds - 2_000_000_000 {
            return .unchanged(known)
        }
        let data: Data
        switch SeedScanner.read(path, stamp: stamp) {
        case .success(let read): data = read
        case .failure(let error):
            file.problems = [error.description]
            return .read(file, .failure(error))
        }
        file.size = data.count
        file.sha256 = BlobStore.digest(data)
        if let known, known.parser == parser, !known.sha256.isEmpty, known.sha256 == file.sha256 {
            file.isSeed = known.isSeed
            file.problems = known.problems
            return .touched(file)
        }
        let result = SeedScanner.parse(data, path: path, bodyImages: bodyImages)
        switch result {
        case .success(let document):
            file.isSeed = true
            file.problems = document.problems.map(\.description)
            // A URL with credentials is requested as written but never stored: such a file is read every time.
            if document.images.contains(where: { $0.fetchURL != $0.url }) { file.sha256 = "" }
        case .failure(let error):
            file.problems = [error.description]
        }
        return .read(file, result)
    }

    static func nanoseconds(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970 * 1_000_000_000) }
}

/// The seed files an index remembers, read a page at a time in path order and merged with the
/// walk's listing, which comes in the same order: the files that are gone.
struct RememberedSeedFiles {
    let index: any IndexStorage
    /// Every remembered path up to this one is decided (listed, or reported missing).
    private var after: String?

    init(index: any IndexStorage) { self.index = index }

    /// The remembered paths after the last call's and up to `last` (all of them, with nil) that
    /// are not in `listed`, the walk's files in that range; at most `limit` of them (then the
    /// next call goes on from the last one returned).
    mutating func missing(through last: String?, listed: Set<String>, limit: Int = .max) throws(CacheError) -> [String] {
        var missing: [String] = []
        // A page is read afresh for each call: the paths recorded since are in the index now,
        // and lie at or before the last call's `last`, where this call does not look.
        pages: while missing.count < limit {
            let page = try index.seedFilePaths(after: after, limit: 5_000)
            for path in page {
                if let last, IndexOrder.precedes(last, path) { break pages }
                if !listed.contains(path) { missing.append(path) }
                after = path
                if missing.count == limit { break pages }
            }
            if page.count < 5_000 { break }
        }
        if let last, missing.count < limit { after = last }
        return missing
    }
}
