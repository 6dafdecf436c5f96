import ArgumentParser
import Foundation
import Hummingbird
import ImgCacheKit
import ImgCacheServer
import Logging

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve cached thumbnails and originals over HTTP, with a manifest, health and metrics.",
        discussion: """
            Routes:
              GET|HEAD /t/<sha256>/<variant>.<jpg|png>   a thumbnail (immutable, strong ETag, 304)
              GET|HEAD /o/<sha256>.<jpg|png>             an original
              GET /v1/image?url=<url>&variant=<name>[&fallback=origin]
                                                        302 to the immutable URL; 404 JSON, or 302 to the origin
              GET /v1/manifest[?seed=<path>]             the manifest (same shape as `imgcache export`)
              GET /healthz, GET /metrics                 health; Prometheus text

            Paths are parsed strictly (64 hex digits, a configured variant, the stored format's \
            extension); anything else is 404, and no filesystem path is built from request text. \
            Files are streamed from disk. SIGINT or SIGTERM stop the server gracefully.

            Examples:
              imgcache serve
              imgcache serve --host 0.0.0.0 --port 8080 --cache /var/cache/imgcache --log-level warning
            """)

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port = 8080

    @OptionGroup var cacheOptions: CacheOptions

    @Option(help: "Request log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be 1-65535") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
    }

    func run() async throws {
        let file = try cacheOptions.configuration()
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.cacheDirectory = file.cacheDirectory
        configuration.variants = file.variants
        configuration.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let app: any ApplicationProtocol
        do {
            app = try buildApplication(configuration: configuration)
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        try await app.runService()
    }
}
