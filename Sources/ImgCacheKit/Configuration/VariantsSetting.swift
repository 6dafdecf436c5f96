import Foundation
import ImageCodecs
import ImageCore
import Yams

/// The `variants:` key: a mapping of variant name to `{size, fit, formats, quality, animate}`.
enum VariantsSetting {
    struct Entry: Decodable {
        var size: String; var fit: String?; var format: String?; var formats: [String]?; var quality: QualityEntry?; var animate: Bool?
    }
    enum QualityEntry: Decodable {
        case jpeg(Int), each([String: Int])
        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(Int.self) { self = .jpeg(value) } else { self = .each(try container.decode([String: Int].self)) }
        }
    }

    /// Every variant of the mapping, by name; at least one.
    static func parse(_ node: Node) throws(ConfigurationError) -> [Variant] {
        guard let mapping = node.mapping else { throw ConfigurationError("variants must be a mapping of name to {size: WxH, …}") }
        guard !mapping.isEmpty else { throw ConfigurationError("variants must name at least one variant") }
        var variants: [Variant] = []
        for (key, value) in mapping {
            let name = key.scalar?.string ?? "?"
            let entry: Entry
            do {
                entry = try YAMLDecoder().decode(Entry.self, from: value)
            } catch {
                throw ConfigurationError("variant \(name): \(error)")
            }
            variants.append(try variant(name, entry))
        }
        return variants.sorted { $0.name < $1.name }
    }

    /// The defaults as the file writes them (the docs and the example file show this).
    static var defaultText: String {
        "\n" + Variant.defaults.map { variant in
            let quality = Variant.Quality.keys.map { "\($0): \(variant.quality.effective[$0] ?? 0)" }.joined(separator: ", ")
            let formats = variant.formats.map { $0 == .auto ? "jpeg" : $0.rawValue }.joined(separator: ", ")
            return "  \(variant.name): {size: \(variant.spec.box.width)x\(variant.spec.box.height), fit: \(variant.spec.fit.rawValue), "
                + "formats: [\(formats)], quality: {\(quality)}}"
        }.joined(separator: "\n")
    }

    static func variant(_ name: String, _ entry: Entry) throws(ConfigurationError) -> Variant {
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw ConfigurationError("variant name '\(name)' may use letters, digits, - and _ only")
        }
        guard let size = Size(parsing: entry.size) else { throw ConfigurationError("variant \(name): size '\(entry.size)' is not WIDTHxHEIGHT") }
        guard let fit = FitMode(rawValue: entry.fit ?? "inside") else { throw ConfigurationError("variant \(name): fit must be inside, cover or fill") }
        let formats = try Self.formats(name, entry)
        var quality = Variant.Quality()
        switch entry.quality {
        case .jpeg(let value)?: quality.values["jpeg"] = value
        case .each(let values)?:
            let keys = Variant.Quality.keys
            for (key, value) in values {
                guard keys.contains(key) else {
                    throw ConfigurationError("variant \(name): quality names \(keys.joined(separator: ", ")), not '\(key)'")
                }
                quality.values[key] = value
            }
        case nil: break
        }
        for value in quality.values.values where !(1...100).contains(value) {
            throw ConfigurationError("variant \(name): quality must be 1-100, not \(value)")
        }
        var variant = Variant(name: name, spec: ThumbnailSpec(box: size, fit: fit), formats: formats, quality: quality)
        variant.animate = entry.animate ?? true
        return variant
    }

    /// `formats: [avif, webp, jpeg]` (jpeg: the fallback, PNG where transparent), or the older
    /// single `format: auto|jpeg|png` (then WebP is offered before it, as by default).
    static func formats(_ name: String, _ entry: Entry) throws(ConfigurationError) -> [OutputFormat] {
        if entry.format != nil && entry.formats != nil {
            throw ConfigurationError("variant \(name): give formats (a list) or format, not both")
        }
        if let single = entry.format {
            guard let fallback = OutputFormat(rawValue: single), !fallback.isModern else {
                throw ConfigurationError("variant \(name): format must be auto, jpeg or png (list WebP and AVIF in formats)")
            }
            return [.webp, fallback]
        }
        guard let list = entry.formats else { return Variant.defaultFormats }
        var formats: [OutputFormat] = []
        for text in list {
            // `jpeg` in a list is the fallback: JPEG, or PNG where transparent.
            guard var format = OutputFormat(rawValue: text) else {
                let names = ImageFormat.encodable.map(\.rawValue).reversed().joined(separator: ", ")
                throw ConfigurationError("variant \(name): unknown format '\(text)' (\(names))")
            }
            if format == .jpeg { format = .auto }
            guard !formats.contains(format) else { throw ConfigurationError("variant \(name): format '\(text)' is listed twice") }
            formats.append(format)
        }
        guard let last = formats.last, !last.isModern, formats.dropLast().allSatisfy(\.isModern) else {
            throw ConfigurationError("variant \(name): formats must end with the fallback (jpeg or png), after any of avif and webp")
        }
        return formats
    }
}
