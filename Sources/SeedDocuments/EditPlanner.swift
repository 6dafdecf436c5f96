import Yams

/// Decides how one image entry's `isCached` can be set in place, or why it cannot.
enum EditPlanner {
    enum Plan: Equatable {
        /// The value is already what it should be.
        case unchanged
        /// Replace `range` of the YAML text with `text` (an empty range inserts).
        case edit(Range<Int>, String, EditKind)
        /// Cannot be changed safely; `line` is within the YAML (1-based).
        case leaveAlone(String, line: Int?)
    }

    enum EditKind: Equatable {
        /// A plain scalar whose exact text is the parsed value, replaced by another plain literal.
        case plainToken
        /// Anything else (a quoted value, an empty one, a new line): the result is parsed again.
        case structural
    }

    /// The site of an entry's `isCached` for a write-back without parsing again: where `plan`
    /// would replace a plain token (asked for the other value, so that it always edits).
    static func site(_ fields: Node.Mapping, in yaml: YAMLText) -> IsCachedSite {
        let current = fields.field("isCached")?.bool
        guard case .edit(let range, _, .plainToken) = plan(fields, wanted: !(current ?? false), in: yaml) else { return .other }
        return .plainToken(range, current: current)
    }

    static func plan(_ fields: Node.Mapping, wanted: Bool, in yaml: YAMLText) -> Plan {
        let literal = wanted ? "true" : "false"
        guard let value = fields.field("isCached") else { return insertion(into: fields, literal: literal, in: yaml) }
        let line = value.mark?.line
        guard let scalar = value.scalar else { return .leaveAlone("its value is not true or false", line: line) }
        if scalar.anchor != nil {
            return .leaveAlone("its value is anchored or an alias, so other entries may share it", line: line)
        }
        guard let mark = scalar.mark, let start = yaml.offset(of: mark), start < yaml.count else {
            return .leaveAlone("its position in the text is unknown", line: line)
        }
        if yaml[start] == UInt8(ascii: "!") { return .leaveAlone("its value has a tag", line: line) }
        switch scalar.style {
        case .literal, .folded:
            return .leaveAlone("its value is a block scalar", line: line)
        case .singleQuoted, .doubleQuoted:
            guard let end = yaml.tokenEnd(from: start, style: scalar.style) else {
                return .leaveAlone("its value is a quoted string over several lines", line: line)
            }
            return .edit(start..<end, literal, .structural)
        default:
            if scalar.string.isEmpty { return emptyValue(fields, literal: literal, in: yaml, line: line) }
            guard let end = yaml.tokenEnd(from: start, style: .plain), yaml.holds(scalar.string, at: start..<end) else {
                return .leaveAlone("its value goes on over several lines", line: line)
            }
            if value.bool == wanted { return .unchanged }
            // The entry's url must stand at its own mark too: then the positions are the parser's.
            return .edit(start..<end, literal, urlStandsAtItsMark(fields, in: yaml) ? .plainToken : .structural)
        }
    }

    /// Whether the text at the url value's mark is exactly that url (plain, or quoted without escapes).
    private static func urlStandsAtItsMark(_ fields: Node.Mapping, in yaml: YAMLText) -> Bool {
        guard let url = fields.field("url")?.scalar, let mark = url.mark, let start = yaml.offset(of: mark),
              start < yaml.count else { return false }
        switch url.style {
        case .plain:
            guard let end = yaml.tokenEnd(from: start, style: .plain) else { return false }
            return yaml.holds(url.string, at: start..<end)
        case .singleQuoted, .doubleQuoted:
            guard let end = yaml.tokenEnd(from: start, style: url.style), end - start >= 2 else { return false }
            return yaml.holds(url.string, at: (start + 1)..<(end - 1))
        default:
            return false
        }
    }

    /// `isCached:` with no value (null): the value goes right after the key's colon.
    private static func emptyValue(_ fields: Node.Mapping, literal: String, in yaml: YAMLText, line: Int?) -> Plan {
        guard let key = fields.first(where: { $0.key.scalar?.string == "isCached" })?.key, key.scalar?.style == .plain,
              let mark = key.mark, let start = yaml.offset(of: mark) else {
            return .leaveAlone("its empty value has no place in the text", line: line)
        }
        let colon = start + "isCached".utf8.count
        guard colon < yaml.count, yaml[colon] == UInt8(ascii: ":") else {
            return .leaveAlone("its empty value has no place in the text", line: line)
        }
        return .edit((colon + 1)..<(colon + 1), " " + literal, .structural)
    }

    /// A new `isCached:` line after the entry's last field, indented like its first key.
    private static func insertion(into fields: Node.Mapping, literal: String, in yaml: YAMLText) -> Plan {
        let line = fields.mark?.line
        // Not `fields.style`: Yams takes a mapping's style from its end event, so it is never `.flow`.
        guard let mark = fields.mark, let start = yaml.offset(of: mark), start < yaml.count else {
            return .leaveAlone("its position in the text is unknown", line: line)
        }
        guard yaml[start] != UInt8(ascii: "{") else {
            return .leaveAlone("a flow-style entry ({…}) without the key: it cannot be added in place", line: line)
        }
        guard fields.anchor == nil, yaml[start] != UInt8(ascii: "&"), yaml[start] != UInt8(ascii: "!") else {
            return .leaveAlone("the entry is anchored or tagged, so aliases elsewhere may share it", line: line)
        }
        guard let first = fields.first?.key.mark, let last = Array(fields).last?.key.mark, first.column >= 1 else {
            return .leaveAlone("the entry has no keys to place the new one after", line: line)
        }
        let indent = first.column - 1
        // The last field's value may go on over continuation lines (deeper than the keys), and
        // blank lines between them; the new line goes after the last of them.
        var lastContent = last.line
        var next = last.line + 1
        while next <= yaml.lineCount {
            let content = yaml.content(ofLine: next)
            let depth = content.prefix { $0 == 0x20 }.count
            if content.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
                next += 1
                continue
            }
            guard depth > indent else { break }
            lastContent = next
            next += 1
        }
        let newline = yaml.lineBreak(after: lastContent)
        let at = yaml.lineStart(lastContent + 1)
        // A last line without a break gets one first.
        let needsBreak = at == yaml.count && yaml.lineContentEnd(lastContent) == at
        return .edit(at..<at, (needsBreak ? newline : "") + String(repeating: " ", count: indent) + "isCached: \(literal)" + newline,
                     .structural)
    }
}
