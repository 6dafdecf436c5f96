import Foundation
import Hummingbird
import NIOCore
import NIOPosix

/// A file opened before the response starts and streamed from that descriptor: once a client
/// is being answered, unlinking the file (a prune) cannot cut its body short. Reads run on
/// NIO's blocking thread pool, 128 KB at a time, so a large original never sits in memory.
final class OpenFile: @unchecked Sendable {
    let descriptor: Int32
    let size: Int

    /// Nil when the file is gone or unreadable.
    init?(path: String) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        var status = stat()
        guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            close(descriptor)
            return nil
        }
        self.descriptor = descriptor
        size = Int(status.st_size)
    }

    deinit { close(descriptor) }

    static let chunkSize = 128 * 1024

    var body: ResponseBody { body(from: 0, count: size) }

    /// `count` bytes from `start`.
    func body(from start: Int, count: Int) -> ResponseBody {
        ResponseBody(contentLength: count) { writer in
            var offset = start
            let end = start + count
            while offset < end {
                let length = min(Self.chunkSize, end - offset)
                let chunk = try await NIOThreadPool.singleton.runIfActive { [offset] () throws -> ByteBuffer in
                    var buffer = ByteBufferAllocator().buffer(capacity: length)
                    let read = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { pointer in
                        max(0, pread(self.descriptor, pointer.baseAddress, length, off_t(offset)))
                    }
                    guard read > 0 else { throw FileShrank() }
                    return buffer
                }
                offset += chunk.readableBytes
                try await writer.write(chunk)
            }
            try await writer.finish(nil)
        }
    }

    struct FileShrank: Error {}
}
