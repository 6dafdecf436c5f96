import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Hummingbird
import NIOCore
import NIOPosix
import Synchronization

/// A cache file streamed to a response in `ServerLimits.streamChunk` pieces.
///
/// On HTTP/1.1 the file is opened once, before the response starts, and read from that
/// descriptor: a prune's unlink after that cannot cut the body short, and a connection holds
/// at most one such descriptor (the socket's own backpressure bounds the memory).
/// On HTTP/2 (`holdDescriptor` false) no descriptor is held while a stream waits: each piece
/// is read by opening the file by its path (checked to be still the file that was found:
/// device, inode and size; content-addressed files never change in place), reading and
/// closing before the piece is written, so a stream waiting on its client's window holds one
/// piece and no descriptor. A file pruned while such a stream is
/// sent ends it early (the client sees a short body, never other bytes).
final class StreamedFile: Sendable {
    let path: String
    let size: Int
    private let device: UInt64
    private let inode: UInt64
    private let held: Int32?

    /// Nil when the file is gone or not a regular file.
    init?(path: String, holdDescriptor: Bool) {
        var status = stat()
        var held: Int32?
        if holdDescriptor {
            let descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { return nil }
            guard fstat(descriptor, &status) == 0 else {
                close(descriptor)
                return nil
            }
            held = descriptor
        } else {
            guard stat(path, &status) == 0 else { return nil }
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            if let held { close(held) }
            return nil
        }
        self.held = held
        self.path = path
        size = Int(status.st_size)
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
    }

    deinit { if let held { close(held) } }

    struct Gone: Error {}

    /// `count` bytes at `offset`, from the same file. Blocking: run it off the event loop.
    func read(at offset: Int, count: Int) throws -> ByteBuffer {
        if let held { return try Self.readPiece(held, at: offset, count: count) }
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw Gone() }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, UInt64(status.st_dev) == device, UInt64(status.st_ino) == inode,
              Int(status.st_size) == size else { throw Gone() }
        return try Self.readPiece(descriptor, at: offset, count: count)
    }

    private static func readPiece(_ descriptor: Int32, at offset: Int, count: Int) throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        let read = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { pointer in
            max(0, pread(descriptor, pointer.baseAddress, count, off_t(offset)))
        }
        guard read > 0 else { throw Gone() }
        return buffer
    }

    /// `count` bytes from `start`, holding `slot` until the client has them. A piece the
    /// client does not take within `sendTimeout` closes its connection (an HTTP/2 stream:
    /// that stream), as nginx's send_timeout.
    /// On HTTP/2 the stream first waits for one of its connection's `turns`.
    func body(from start: Int, count: Int, slot: Held, channel: any Channel, turns: SendingTurns,
              sendTimeout: TimeAmount, onTimeout: @escaping @Sendable () -> Void) -> ResponseBody {
        ResponseBody(contentLength: count) { writer in
            // HTTP/2 (the channel is a stream of a connection): its pacer, a turn, and one stall timer.
            let isStream = channel.parent?.parent != nil
            let pacer = isStream ? try await StreamPacer.of(channel) : nil
            let turn = isStream ? await turns.take(for: channel) : nil
            let piece = isStream ? ServerLimits.http2Piece : ServerLimits.streamChunk
            let stallCheck = pacer?.closeWhenStalled(channel, after: sendTimeout, onTimeout: onTimeout)
            defer { stallCheck?.cancel() }
            var offset = start
            let end = start + count
            while offset < end {
                let length = min(piece, end - offset)
                let chunk = try await NIOThreadPool.singleton.runIfActive { [offset] in try self.read(at: offset, count: length) }
                offset += chunk.readableBytes
                if let pacer {
                    try await writer.write(chunk)
                    // The piece before this one has gone out to the client.
                    try await pacer.room(on: channel, written: offset - start, below: piece)
                } else {
                    let watchdog = Self.watch(channel, sendTimeout, onTimeout)
                    defer { watchdog.cancel() }
                    try await writer.write(chunk)
                }
            }
            try await writer.finish(nil)
            // An HTTP/2 stream's last pieces wait in NIO for the client's window: its turn goes
            // to the next stream once they have all gone out, the slot once the stream has ended
            // (or is closed for not reading).
            if let pacer {
                try? await pacer.room(on: channel, written: count, below: 0)
                withExtendedLifetime(turn) {}
                try? await channel.closeFuture.get()
            }
            withExtendedLifetime(slot) {}
        }
    }

    private static func watch(_ channel: any Channel, _ timeout: TimeAmount,
                              _ onTimeout: @escaping @Sendable () -> Void) -> Scheduled<Void> {
        channel.eventLoop.scheduleTask(in: timeout) {
            onTimeout()
            channel.close(promise: nil)
        }
    }
}

/// How many responses may stream from files at once (`ServerLimits.maxStreamingResponses`).
final class StreamingSlots: Sendable {
    let capacity: Int
    private let used = Atomic(0)

    init(capacity: Int) { self.capacity = capacity }

    var inUse: Int { used.load(ordering: .relaxed) }

    /// A slot, or nil when every one is taken (answer 503). Freed when the slot goes.
    func take() -> Held? {
        let now = used.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue
        guard now <= capacity else {
            used.wrappingSubtract(1, ordering: .acquiringAndReleasing)
            return nil
        }
        return Held { self.used.wrappingSubtract(1, ordering: .acquiringAndReleasing) }
    }
}
