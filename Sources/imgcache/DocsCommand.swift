import ArgumentParser
import Foundation
import ImgCacheKit

/// `imgcache docs --out docs`: the reference pages written from the code itself, so `--help`,
/// the key table and the docs cannot drift (a test compares the committed pages with these).
struct DocsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "docs",
        abstract: "Write the command reference (cli/*.md) and the configuration reference from the code.",
        discussion: """
            Writes DIR/cli/README.md, one DIR/cli/<command>.md per command (its --help), \
            DIR/configuration.md (every configuration key) and, with --example, the example \
            configuration file. Run it after changing a flag, a help text or a key.

            Examples:
              imgcache docs --out docs --example imgcache.example.yml
            """,
        shouldDisplay: false)

    @Option(help: ArgumentHelp("Folder to write the pages into.", valueName: "dir"))
    var out: String

    @Option(help: ArgumentHelp("Also write the example configuration file here.", valueName: "file"))
    var example: String?

    /// The commands documented, in the order `imgcache --help` lists them.
    static var commands: [any ParsableCommand.Type] {
        IMGCache.configuration.subcommands.filter { $0.configuration.shouldDisplay }
    }

    func run() throws {
        let folder = URL(fileURLWithPath: out)
        let cli = folder.appendingPathComponent("cli")
        try FileManager.default.createDirectory(at: cli, withIntermediateDirectories: true)
        try Self.write(Self.index, to: cli.appendingPathComponent("README.md"))
        for command in Self.commands {
            try Self.write(Self.page(command), to: cli.appendingPathComponent("\(Self.name(command)).md"))
        }
        try Self.write(ConfigurationDocs.markdown, to: folder.appendingPathComponent("configuration.md"))
        if let example { try Self.write(ConfigurationDocs.exampleFile, to: URL(fileURLWithPath: example)) }
    }

    static func name(_ command: any ParsableCommand.Type) -> String { command.configuration.commandName ?? "\(command)" }

    static let generated = "<!-- Written by `imgcache docs --out docs` from the commands' --help; edit the code, not this page. -->"

    static var index: String {
        var lines = ["# Command reference", "", generated, "", "```text", IMGCache.helpMessage(columns: 100).trimmedLines, "```", "",
                     "| command | what it does |", "| --- | --- |"]
        for command in commands {
            lines.append("| [`imgcache \(name(command))`](\(name(command)).md) | \(command.configuration.abstract) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func page(_ command: any ParsableCommand.Type) -> String {
        let help = IMGCache.helpMessage(for: command, columns: 100).trimmedLines
        return ["# imgcache \(name(command))", "", generated, "", "```text", help, "```"].joined(separator: "\n") + "\n"
    }

    static func write(_ text: String, to url: URL) throws {
        do {
            try Data(text.utf8).write(to: url, options: .atomic)
        } catch {
            throw ValidationError("cannot write \(url.path): \(error.localizedDescription)")
        }
    }
}

private extension String {
    /// Without trailing spaces on any line or blank lines at the end.
    var trimmedLines: String {
        split(separator: "\n", omittingEmptySubsequences: false)
            .map { line in String(line.reversed().drop { $0 == " " }.reversed()) }
            .joined(separator: "\n").trimmingCharacters(in: .newlines)
    }
}
