import Foundation
import Glibc
import SeedDocuments

/// Says when something under a seeds folder may have changed, so `sync --watch` and
/// `serve --watch` sync a new or edited seed within moments of its last write. inotify on Linux
/// (every folder watched, new ones as they appear); a poll of every file's size and time where
/// inotify is missing or cannot see other machines' writes (NFS, SMB, FUSE...). Hidden files
/// (an editor's swap file) are not seeds and wake nothing.
public final class SeedWatcher: @unchecked Sendable {
    public enum Mode: String, Sendable {
        case inotify
        case polling
    }

    public let directory: String
    public private(set) var mode: Mode
    /// Why polling was chosen (nil with inotify).
    public private(set) var pollingReason: String?
    /// How often a poll looks.
    public let pollInterval: TimeInterval
    /// A change is reported once no other has come for this long (an editor's several writes are one change).
    public let quietPeriod: TimeInterval
    private var inotify: Int32 = -1
    private var folders: [Int32: String] = [:]
    private var snapshot: [String: FileStamp] = [:]
    /// Written to by `stop()`: wakes a wait at once.
    private var wakeup: [Int32] = [-1, -1]
    private let lock = NSLock()

    /// - Parameter poll: poll every this many seconds instead of using inotify.
    public init(directory: String, poll: TimeInterval? = nil, quietPeriod: TimeInterval = 0.2) {
        self.directory = directory
        self.quietPeriod = quietPeriod
        pollInterval = poll ?? 1
        _ = wakeup.withUnsafeMutableBufferPointer { pipe($0.baseAddress) }
        for fd in wakeup where fd >= 0 { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var reason: String?
        if poll != nil {
            reason = "polling was asked for"
        } else if let type = Self.networkFileSystem(containing: directory) {
            reason = "\(directory) is on \(type), whose changes from other machines inotify does not see"
        } else {
            inotify = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
            if inotify < 0 { reason = "inotify is not available: \(String(cString: strerror(errno)))" }
        }
        pollingReason = reason
        mode = reason == nil ? .inotify : .polling
        if mode == .inotify { watchFolders() }
        if mode == .polling { snapshot = Self.stamps(under: directory) }
    }

    deinit {
        if inotify >= 0 { close(inotify) }
        for fd in wakeup where fd >= 0 { close(fd) }
    }

    /// How it watches, for a log line: "inotify", or "polling every 1.0 s: <why>".
    public var how: String {
        pollingReason.map { "polling every \(pollInterval) s: \($0)" } ?? "inotify"
    }

    /// Ends a wait in progress (and every later one) at once.
    public func stop() {
        var byte: UInt8 = 1
        _ = write(wakeup[1], &byte, 1)
    }

    /// Blocks until something changed and then stayed quiet for `quietPeriod` (true), or until
    /// `stop()` (false). A change seen while no one waited is reported by the next wait.
    public func waitForChange() -> Bool {
        waitForChange(timeout: nil) ?? false
    }

    /// As `waitForChange()`, but nil once `timeout` seconds pass with no change.
    public func waitForChange(timeout: TimeInterval?) -> Bool? {
        lock.lock()
        defer { lock.unlock() }
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        // Polling from the start, or since a new folder went over inotify's limit (that was a change).
        return mode == .inotify ? waitForEvents(until: deadline) : waitByPolling(until: deadline)
    }

    /// Seconds left until `deadline` (negative: wait for ever), at most `cap`.
    private static func remaining(_ deadline: Date?, cap: TimeInterval? = nil) -> TimeInterval {
        guard let deadline else { return cap ?? -1 }
        let left = max(0, deadline.timeIntervalSinceNow)
        return cap.map { min($0, left) } ?? left
    }

    // MARK: inotify

    private func waitForEvents(until deadline: Date?) -> Bool? {
        while true {
            guard wait(timeout: Self.remaining(deadline)) else { return nil }
            if isStopped { return false }
            var changed = readEvents()
            // Quiet period: more events keep it open, for at most a second after the first.
            let settle = Date().addingTimeInterval(1)
            while Date() < settle, wait(timeout: quietPeriod) {
                if isStopped { return false }
                changed = readEvents() || changed
            }
            if changed { return true }
        }
    }

    /// Reads every pending event; true when one concerns a file that could be a seed.
    private func readEvents() -> Bool {
        var changed = false
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(inotify, $0.baseAddress, $0.count) }
            guard count > 0 else { return changed }
            var offset = 0
            while offset + MemoryLayout<inotify_event>.size <= count {
                let (mask, descriptor, nameLength, name) = buffer.withUnsafeBytes { raw -> (UInt32, Int32, Int, String) in
                    let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                    let start = offset + MemoryLayout<inotify_event>.size
                    let bytes = raw[start..<start + Int(event.len)].prefix { $0 != 0 }
                    return (event.mask, event.wd, Int(event.len), String(decoding: bytes, as: UTF8.self))
                }
                offset += MemoryLayout<inotify_event>.size + nameLength
                if mask & UInt32(IN_Q_OVERFLOW) != 0 { changed = true; continue }
                if mask & UInt32(IN_IGNORED) != 0 { folders[descriptor] = nil; continue }
                if name.hasPrefix(".") { continue }
                changed = true
                if mask & UInt32(IN_ISDIR) != 0, mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0, let parent = folders[descriptor] {
                    watchFolders(under: parent + "/" + name)
                }
            }
        }
    }

    /// Watches `root` and every folder below it that is not hidden.
    private func watchFolders(under root: String? = nil) {
        let root = root ?? directory
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB
                           | IN_DELETE_SELF | IN_MOVE_SELF)
        var pending = [root]
        while let folder = pending.popLast() {
            let descriptor = inotify_add_watch(inotify, folder, mask)
            if descriptor >= 0 {
                folders[descriptor] = folder
            } else if errno == ENOSPC {
                // More folders than fs.inotify.max_user_watches allows: a folder not watched would
                // miss its changes, so the whole folder is polled instead.
                close(inotify)
                inotify = -1
                mode = .polling
                pollingReason = "there are more folders than inotify may watch (fs.inotify.max_user_watches)"
                snapshot = Self.stamps(under: directory)
                return
            }
            let children = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            for child in children where !child.hasPrefix(".") {
                var isFolder: ObjCBool = false
                let path = folder + "/" + child
                // Links to folders are not followed, as the scan does not follow them.
                if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue,
                   (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) == nil {
                    pending.append(path)
                }
            }
        }
    }

    // MARK: Polling

    private func waitByPolling(until deadline: Date?) -> Bool? {
        while true {
            if deadline.map({ $0 <= Date() }) == true { return nil }
            if wait(timeout: Self.remaining(deadline, cap: pollInterval)) { return false }  // only the stop pipe is waited on here
            let now = Self.stamps(under: directory)
            if now != snapshot {
                // Settled: the same twice, a quiet period apart.
                var settled = now
                repeat {
                    if wait(timeout: quietPeriod) { return false }
                    let again = Self.stamps(under: directory)
                    if again == settled { break }
                    settled = again
                } while true
                snapshot = settled
                return true
            }
        }
    }

    /// Every seed file's size and time.
    static func stamps(under directory: String) -> [String: FileStamp] {
        var stamps: [String: FileStamp] = [:]
        for path in SeedScanner.files(under: directory).paths {
            stamps[path] = FileStamp(of: path)
        }
        return stamps
    }

    // MARK: Waiting

    /// Waits for inotify (when used) or the stop pipe for `timeout` seconds (negative: forever);
    /// true when one is readable.
    private func wait(timeout: TimeInterval) -> Bool {
        var descriptors = [pollfd(fd: wakeup[0], events: Int16(POLLIN), revents: 0)]
        if inotify >= 0 { descriptors.append(pollfd(fd: inotify, events: Int16(POLLIN), revents: 0)) }
        let milliseconds = timeout < 0 ? -1 : Int32(timeout * 1000)
        while true {
            let ready = poll(&descriptors, nfds_t(descriptors.count), milliseconds)
            if ready < 0 && errno == EINTR { continue }
            return ready > 0
        }
    }

    private var isStopped: Bool {
        var descriptor = pollfd(fd: wakeup[0], events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) > 0
    }

    /// The network or user-space file system `directory` is on, if it is on one.
    static func networkFileSystem(containing directory: String) -> String? {
        guard let mounts = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return nil }
        let path = URL(fileURLWithPath: directory).resolvingSymlinksInPath().path
        var best: (point: String, type: String)?
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 3 else { continue }
            let point = fields[1].replacingOccurrences(of: "\\040", with: " "), type = String(fields[2])
            let inside = point == "/" || path == point || path.hasPrefix(point + "/")
            if inside, point.count >= (best?.point.count ?? -1) { best = (point, type) }
        }
        guard let type = best?.type else { return nil }
        let network = ["nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "glusterfs", "afs", "lustre", "gpfs", "davfs"]
        return network.contains(type) || (type.hasPrefix("fuse.") && !type.contains("overlay")) ? type : nil
    }
}
