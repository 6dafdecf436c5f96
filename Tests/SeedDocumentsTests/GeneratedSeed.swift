import TestSupport

/// A random seed document built from YAML forms that real front matter uses, with what the
/// write-back must do to each image entry: change it in place (`safe`) or leave it alone.
struct GeneratedSeed {
    struct Entry {
        var url: String
        var article: Int?
        var index: Int
        var safe: Bool
    }

    var text = ""
    var entries: [Entry] = []
    /// The isCached values to write (some URLs have none: they must stay as they are).
    var states: [String: Bool] = [:]
    var forms: Set<String> = []

    /// One form: its lines (at the sequence item's indent) and, per entry it holds, whether it is safe.
    private struct Form {
        var name: String
        var lines: [String]
        var safety: [Bool]
    }

    static func make(_ random: inout SplitMix64) -> GeneratedSeed {
        var seed = GeneratedSeed()
        var counter = 0
        let crlf = Bool.random(using: &random) && Bool.random(using: &random)
        let bom = Int.random(in: 0..<5, using: &random) == 0
        var lines = ["---", "title: \"Ünïcödé – 日本語 ✓ \(Int.random(in: 0..<1000, using: &random))\"",
                     "excerpt: \"a long excerpt", "  over two lines\"", "# a comment line", "description: |", "  literal",
                     "  text", "secured: \"U2FsdGVkX1+abc/def==\""]
        if crlf { seed.forms.insert("CRLF") }
        if bom { seed.forms.insert("BOM") }
        if Bool.random(using: &random) {
            // The whole list as one flow sequence: the entry with the key is safe, the one without is not.
            let (a, b) = (seed.nextURL(&counter), seed.nextURL(&counter))
            lines.append("images: [{url: \"\(a)\", isCached: \(Bool.random(using: &random))}, {url: \"\(b)\", width: 3}]")
            seed.record([a, b], safety: [true, false], article: nil, startingAt: 0, &random)
            seed.forms.insert("flow sequence")
        } else {
            lines.append("images:")
            lines += seed.entryList(pad: 2, article: nil, counter: &counter, &random)
        }
        let articles = Int.random(in: 0...2, using: &random)
        if articles > 0 { lines.append("related:") }
        for article in 0..<articles {
            lines += ["  - title: \"related \(article)\"", "    quality: \(article)", "    images:"]
            lines += seed.entryList(pad: 6, article: article, counter: &counter, &random)
        }
        lines += ["---", "Body text, not YAML: isCached: false", ""]
        seed.text = (bom ? "\u{FEFF}" : "") + lines.joined(separator: crlf ? "\r\n" : "\n")
        return seed
    }

    private mutating func nextURL(_ counter: inout Int) -> String {
        counter += 1
        return "https://img.example/\(counter).jpg"
    }

    private mutating func record(_ urls: [String], safety: [Bool], article: Int?, startingAt index: Int, _ random: inout SplitMix64) {
        for (offset, (url, safe)) in zip(urls, safety).enumerated() {
            entries.append(Entry(url: url, article: article, index: index + offset, safe: safe))
            if Int.random(in: 0..<5, using: &random) > 0 { states[url] = Bool.random(using: &random) }
        }
    }

    private mutating func entryList(pad: Int, article: Int?, counter: inout Int, _ random: inout SplitMix64) -> [String] {
        var lines: [String] = []
        var index = 0
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            var urls: [String] = []
            let form = Self.form(Int.random(in: 0..<Self.formCount, using: &random), pad: pad, &random) {
                urls.append(nextURL(&counter))
                return urls.last!
            }
            forms.insert(form.name)
            lines += form.lines
            record(urls, safety: form.safety, article: article, startingAt: index, &random)
            index += urls.count
        }
        return lines
    }

    private static let formCount = 19

    private static func form(_ which: Int, pad: Int, _ random: inout SplitMix64, url: () -> String) -> Form {
        let p = String(repeating: " ", count: pad), k = p + "  "
        let v = Bool.random(using: &random) ? "true" : "false"
        switch which {
        case 0: return Form(name: "block", lines: ["\(p)- url: \(url())", "\(k)width: 451", "\(k)height: 300", "\(k)isCached: \(v)"], safety: [true])
        case 1: return Form(name: "block without the key", lines: ["\(p)- url: \(url())", "\(k)width: 451"], safety: [true])
        case 2: return Form(name: "key order", lines: ["\(p)- isCached: \(v)", "\(k)height: 2", "\(k)url: \"\(url())\""], safety: [true])
        case 3:
            let quoted = Bool.random(using: &random) ? "\"\(v)\"" : "'\(v)'"
            return Form(name: "quoted value", lines: ["\(p)- url: '\(url())'", "\(k)isCached: \(quoted)"], safety: [true])
        case 4:
            return Form(name: "comments after values", lines: [
                "\(p)- url: \(url()) # where", "\(k)isCached: \(v)   # checked", "\(k)# a comment", "\(k)width: 3 # px"], safety: [true])
        case 5: return Form(name: "flow entry", lines: ["\(p)- {url: \"\(url())\", width: 451, isCached: \(v)}"], safety: [true])
        case 6: return Form(name: "flow entry without the key", lines: ["\(p)- {url: \"\(url())\", width: 451}"], safety: [false])
        case 7: return Form(name: "multi-line flow entry", lines: ["\(p)- {url: \"\(url())\",", "\(k)  isCached: \(v), height: 4}"], safety: [true])
        case 8: return Form(name: "tag", lines: ["\(p)- url: \(url())", "\(k)isCached: !!bool \(v)"], safety: [false])
        case 9:
            return Form(name: "block scalar sibling", lines: [
                "\(p)- url: \(url())", "\(k)caption: |", "\(k)  first line", "\(k)  # not a comment", "", "\(k)  after a blank line"],
                safety: [true])
        case 10:
            return Form(name: "folded scalar sibling", lines: ["\(p)- url: \(url())", "\(k)alt: >-", "\(k)  folded", "\(k)  text", "\(k)isCached: \(v)"],
                        safety: [true])
        case 11:
            return Form(name: "multi-line quoted sibling", lines: ["\(p)- url: \(url())", "\(k)title: \"a title", "\(k)  over two lines\""],
                        safety: [true])
        case 12: return Form(name: "multi-line quoted value", lines: ["\(p)- url: \(url())", "\(k)isCached: \"fal", "\(k)  se\""], safety: [false])
        case 13: return Form(name: "block scalar value", lines: ["\(p)- url: \(url())", "\(k)isCached: >-", "\(k)  \(v)"], safety: [false])
        case 14:
            let anchor = "c\(Int.random(in: 0..<1_000_000, using: &random))"
            return Form(name: "anchor and alias", lines: [
                "\(p)- url: \(url())", "\(k)isCached: &\(anchor) \(v)", "\(p)- url: \(url())", "\(k)isCached: *\(anchor)"], safety: [false, false])
        case 15:
            return Form(name: "yes/no", lines: ["\(p)- url: \(url())", "\(k)isCached: \(v == "true" ? "yes" : "no")"], safety: [true])
        case 16:
            return Form(name: "unicode before the entry", lines: ["\(p)- alt: \"Ünïcödé – 日本語 ✓\"", "\(k)url: \(url())", "\(k)isCached: \(v)"],
                        safety: [true])
        case 17:
            let empty = ["", " ~", " null", "   # not yet"][Int.random(in: 0..<4, using: &random)]
            return Form(name: "null value", lines: ["\(p)- url: \(url())", "\(k)isCached:\(empty)", "\(k)width: 5"], safety: [true])
        default:
            // NEL and LS are line breaks to libyaml: the lines after them must still map.
            return Form(name: "unicode line breaks", lines: ["\(p)- note: \"one\u{2028}two\u{85}three\"", "\(k)url: \(url())"],
                        safety: [true])
        }
    }
}
