import Foundation

/// `docs/configuration.md` and `imgcache.example.yml`, written from `Configuration.keys` so
/// they cannot drift from the code (`imgcache docs` writes them; a test compares).
public enum ConfigurationDocs {
    /// The reference page: every key with its type, default, variables and meaning.
    public static var markdown: String {
        var lines = [
            "# Configuration",
            "",
            "<!-- Written by `imgcache docs --out docs` from `Configuration.keys`; edit the code, not this page. -->",
            "",
            "imgcache reads `imgcache.yml` in the current folder, or the file `--config FILE` names. Every key is",
            "optional. Each setting is taken from the first of these that gives it: a command's flag, an environment",
            "variable, the file, the default. An unknown key in the file is an error naming its line.",
            "[`imgcache.example.yml`](../imgcache.example.yml) has every key with its default.",
            "",
            "| key | type | default | environment | what it does |",
            "| --- | --- | --- | --- | --- |",
        ]
        for key in Configuration.keys {
            let defaultText = key.name == "variants" ? "thumb, card, large (below)" : key.defaultValue.isEmpty ? "–" : "`\(key.defaultValue)`"
            let environment = key.environment.isEmpty ? "–" : key.environment.map { "`\($0)`" }.joined(separator: ", ")
            lines.append("| `\(key.name)` | \(key.type) | \(defaultText) | \(environment) | \(key.doc) |")
        }
        lines += ["", variantsSection, "", unitsSection]
        return lines.joined(separator: "\n") + "\n"
    }

    static let variantsSection = """
        ## Variants

        Each variant is made for every image, in every format it lists:

        ```yaml
        variants:
        \(VariantsSetting.defaultText.dropFirst())
        ```

        - `size`: the box, `WIDTHxHEIGHT`. `fit: inside` (the default) fits the whole image in the box; `cover`
          fills it and crops the centre. Images are never made larger.
        - `formats`: best first, the fallback last. `jpeg` is the fallback: JPEG, or PNG for an image with
          transparency; `png` is PNG always; `avif` and `webp` come before it in the order a `<picture>` offers
          them. The default is `[webp, jpeg]`; the older single `format: auto|jpeg|png` still works (WebP is
          offered before it). AVIF saves the most bytes but costs about twice WebP's CPU.
        - `quality`: 1–100, one number (JPEG's) or one per format (`{jpeg: 80, webp: 75, avif: 57}`); a format
          not named takes its default.
        - `animate`: `true` (default) keeps an animated GIF, WebP or PNG animated in WebP; `false` keeps only the
          first frame.
        """

    static let unitsSection = """
        ## Units

        Sizes are `500MB` (decimal), `2GiB` or `1.5G` (binary), or a number of bytes. Durations are `90s`,
        `30m`, `24h`, `7d`, `2w`, or a number of seconds. In an environment variable a list is written
        with commas (`IMGCACHE_…=a.example,b.example`) or as YAML (`[a.example, b.example]`).
        """

    /// A commented file with every key at its default (a key without one shown commented out).
    public static var exampleFile: String {
        var lines = [
            "# imgcache configuration: every key at its default. Written by `imgcache docs` from the code;",
            "# docs/configuration.md explains each. Copy to imgcache.yml (read from the current folder) or pass",
            "# --config FILE. Every key is optional; environment variables override the file, flags override both.",
        ]
        var group: String?
        for key in Configuration.keys {
            if key.group != group, let name = key.group { lines.append("\(name):") }
            group = key.group
            let indent = key.group == nil ? "" : "  "
            let environment = key.environment.isEmpty ? "" : " Environment: \(key.environment.joined(separator: ", "))."
            lines.append("")
            lines.append("\(indent)# \(key.doc)\(environment)")
            if let example = key.example {
                lines.append("\(indent)# \(key.leaf): \(example)")
            } else {
                let separator = key.defaultValue.hasPrefix("\n") ? ":" : ": "
                lines.append("\(indent)\(key.leaf)\(separator)\(key.defaultValue)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
