import ImgCacheKit

/// Picks the format `/v1/image` redirects to from a request's `Accept` header.
///
/// A modern format (AVIF, WebP) is chosen only when the header names its media type with a
/// q-value above 0; `image/*` and `*/*` mean the fallback, since a client that lists no modern
/// type may not decode one. Among the acceptable modern formats the highest q wins, then the
/// variant's configured order. Without a match, the fallback (the last format).
enum FormatNegotiation {
    /// The q-value of each media type the header names explicitly (lowercased), parameters other than q ignored.
    static func qualities(accept: String) -> [String: Double] {
        var result: [String: Double] = [:]
        for item in accept.split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let type = parts.first?.lowercased(), !type.isEmpty else { continue }
            var q = 1.0
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if pair.count == 2, pair[0].lowercased() == "q" {
                    q = Double(pair[1]).map { min(1, max(0, $0)) } ?? 0
                }
            }
            result[type] = max(result[type] ?? 0, q)
        }
        return result
    }

    /// The index in `available` (configured order, fallback last) to answer with; nil when
    /// nothing cached is acceptable.
    static func choose(accept: String?, available: [OutputFormat]) -> Int? {
        let fallback = available.lastIndex { !$0.isModern }
        guard let accept else { return fallback }
        let q = qualities(accept: accept)
        var best: (index: Int, q: Double)?
        for (index, format) in available.enumerated() where format.isModern {
            let value = format.format.flatMap { q[$0.mediaType] } ?? 0
            if value > 0, value > (best?.q ?? 0) { best = (index, value) }
        }
        return best?.index ?? fallback
    }
}
