import Foundation
import ImageCodecs
import TestSupport

/// The error decoding `data` throws, or nil if it decodes.
func decodeFailure(_ data: Data, options: DecodeOptions = DecodeOptions()) -> CodecError? {
    do {
        _ = try ImageDecoder.decode(data, options: options)
        return nil
    } catch {
        return error
    }
}

/// The error decoding the fixture at `path` throws, or nil if it decodes.
func decodeFailure(_ path: String, options: DecodeOptions = DecodeOptions()) throws -> CodecError? {
    decodeFailure(try Fixtures.data(path), options: options)
}
