import Foundation
import SafeText

/// A URL as it goes on the wire: checked, and with an internationalised host name in its
/// IDNA (punycode) form, which is what DNS and libcurl take.
public struct TransferURL: Hashable, Sendable {
    /// What libcurl is given.
    public var text: String
    /// The host in ASCII (punycode where it was not ASCII), lower case.
    public var host: String

    /// Why `url` cannot be fetched, or nil: only absolute http and https URLs with a host, and
    /// no control character anywhere.
    public static func problem(_ url: String) -> String? {
        switch parse(url) {
        case .success: return nil
        case .failure(let problem): return problem.reason
        }
    }

    /// Why a URL cannot be fetched.
    public struct Problem: Error, Hashable, Sendable, CustomStringConvertible {
        public var reason: String
        init(_ reason: String) { self.reason = reason }
        public var description: String { reason }
    }

    public static func parse(_ url: String) -> Result<TransferURL, Problem> {
        if let problem = SafeText.controlCharacterProblem(inURL: url) { return .failure(Problem(problem)) }
        guard var components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            return .failure(Problem("not a valid URL"))
        }
        guard scheme == "http" || scheme == "https" else { return .failure(Problem("the scheme '\(scheme)' is not http or https")) }
        guard let host = components.host, !host.isEmpty else { return .failure(Problem("the URL has no host")) }
        guard host.unicodeScalars.contains(where: { !$0.isASCII }) else {
            return .success(TransferURL(text: url, host: host.lowercased()))
        }
        guard let encoded = components.encodedHost, encoded.unicodeScalars.allSatisfy(\.isASCII) else {
            return .failure(Problem("the host '\(host)' is not a valid internationalised domain name"))
        }
        components.encodedHost = encoded
        guard let text = components.string else { return .failure(Problem("not a valid URL")) }
        return .success(TransferURL(text: text, host: encoded.lowercased()))
    }
}
