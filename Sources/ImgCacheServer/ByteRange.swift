/// One `Range: bytes=…` of RFC 9110 §14: `a-b`, `a-` or `-n`. Several ranges, another unit or a
/// malformed header are ignored (the whole file is sent, as the RFC allows).
struct ByteRange: Equatable {
    let first: Int
    let last: Int
    var count: Int { last - first + 1 }

    enum Answer: Equatable {
        /// No usable range: 200 with the whole file.
        case whole
        /// 206 with these bytes.
        case partial(ByteRange)
        /// 416: no byte of the file is in the range.
        case unsatisfiable
    }

    static func answer(_ header: String?, size: Int) -> Answer {
        guard let header, header.hasPrefix("bytes="), !header.contains(",") else { return .whole }
        let spec = header.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard let dash = spec.firstIndex(of: "-") else { return .whole }
        let start = spec[..<dash], end = spec[spec.index(after: dash)...]
        if start.isEmpty {
            // The last n bytes.
            guard let suffix = Int(end), suffix >= 0, end.allSatisfy(\.isNumber) else { return .whole }
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            return .partial(ByteRange(first: max(0, size - suffix), last: size - 1))
        }
        guard let first = Int(start), start.allSatisfy(\.isNumber) else { return .whole }
        let last: Int
        if end.isEmpty {
            last = size - 1
        } else {
            guard let value = Int(end), end.allSatisfy(\.isNumber), value >= first else { return .whole }
            last = min(value, size - 1)
        }
        guard first < size else { return .unsatisfiable }
        return .partial(ByteRange(first: first, last: last))
    }
}
