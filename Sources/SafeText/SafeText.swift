/// Text from hostile places (URLs, seed files, origins' answers) made safe to print on one
/// line of a terminal or a log: control characters, line and paragraph separators and
/// bidirectional overrides are escaped (`\r`, `\n`, `\t`, `\u{1B}`), so no URL can start a
/// forged log line or rewrite a terminal; passwords in URLs are shown as `***`.
public enum SafeText {
    /// `text` with credentials redacted and every unsafe character escaped.
    public static func line(_ text: String) -> String {
        escaped(redactingCredentials(in: text))
    }

    /// A message of several lines (usage text) with each line's unsafe characters escaped and
    /// its line breaks kept.
    public static func escapingAllButNewlines(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line(String($0)) }.joined(separator: "\n")
    }

    /// Every unsafe character of `text` escaped, the rest as it is.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isUnsafe) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            guard isUnsafe(scalar) else {
                out.append(scalar)
                continue
            }
            let escape: String
            switch scalar {
            case "\n": escape = "\\n"
            case "\r": escape = "\\r"
            case "\t": escape = "\\t"
            default: escape = "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            }
            out.append(contentsOf: escape.unicodeScalars)
        }
        return String(out)
    }

    /// Why `url` cannot be used when it holds a control character (libcurl stops at a NUL and
    /// would fetch a shorter URL; CR/LF would forge log lines and headers), or nil.
    public static func controlCharacterProblem(inURL url: String) -> String? {
        guard let control = url.unicodeScalars.first(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) else {
            return nil
        }
        let hex = String(control.value, radix: 16, uppercase: true)
        return "the URL contains the control character U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    /// C0 and C1 controls, DEL, NEL, the line and paragraph separators and the bidi controls.
    static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x2028, 0x2029, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }

    /// `url` without its userinfo (`user:password@` before the host), every other character as
    /// written: what is stored, shown and keyed on; credentials are for the request alone.
    public static func removingUserinfo(fromURL url: String) -> String {
        let characters = Array(url.utf8)
        guard let colon = characters.firstIndex(of: UInt8(ascii: ":")), characters.count > colon + 2,
              characters[colon + 1] == UInt8(ascii: "/"), characters[colon + 2] == UInt8(ascii: "/") else { return url }
        let start = colon + 3
        let end = characters[start...].firstIndex { "/?#".utf8.contains($0) } ?? characters.count
        guard let at = characters[start..<end].lastIndex(of: UInt8(ascii: "@")) else { return url }
        return String(decoding: characters[..<start] + characters[(at + 1)...], as: UTF8.self)
    }

    /// `text` with the password of every `scheme://user:password@host` in it replaced by `***`.
    public static func redactingCredentials(in text: String) -> String {
        guard text.contains("://") else { return text }
        var scalars = Array(text.unicodeScalars)
        var i = 0
        while i + 2 < scalars.count {
            guard scalars[i] == ":", scalars[i + 1] == "/", scalars[i + 2] == "/" else {
                i += 1
                continue
            }
            let start = i + 3
            // The authority ends at the first '/', '?', '#', blank or quote.
            var end = start
            while end < scalars.count, !"/?#\"' <>".unicodeScalars.contains(scalars[end]),
                  !isUnsafe(scalars[end]) { end += 1 }
            if let at = scalars[start..<end].lastIndex(of: "@"),
               let colon = scalars[start..<at].firstIndex(of: ":"), colon + 1 < at {
                scalars.replaceSubrange((colon + 1)..<at, with: "***".unicodeScalars)
                i = colon + 4
            } else {
                i = end
            }
        }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars)
        return String(out)
    }
}
