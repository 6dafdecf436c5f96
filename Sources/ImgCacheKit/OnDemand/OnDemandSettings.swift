import Foundation

/// What `serve` makes on request at `/v/…` (the `signingKeys`, `onDemandWidths`,
/// `srcsetWidths` and `onDemand.*` settings).
public struct OnDemandSettings: Sendable {
    /// Hex keys and salts, paired by position; the first pair signs.
    public var signingKeys: [String] = []
    public var signingSalts: [String] = []
    /// Widths anyone may ask for without a signature (`/v/_/w:<width>/…`).
    public var widths: [Int] = []
    /// Widths the manifest and `export` list in each image's `srcset`.
    public var srcsetWidths: [Int] = []
    /// The largest output a request may ask for, in pixels (width × height).
    public var maxPixels = 4096 * 4096
    /// The largest device pixel ratio a request may ask for.
    public var maxDPR = 3.0
    /// Renders at once; 0: one per core.
    public var workers = 0
    /// Renders waiting for a worker; one more is answered 429.
    public var queue = 64
    /// How long a failed render is remembered (and answered without decoding again).
    public var failureTTL: TimeInterval = 60

    public init() {}

    /// The signer of these keys (checked when the configuration is loaded).
    public func signer() throws(ConfigurationError) -> URLSigner {
        signingKeys.isEmpty && signingSalts.isEmpty ? .none : try URLSigner(keys: signingKeys, salts: signingSalts)
    }

    /// Whether `options` (canonical) may be asked for unsigned: a bare width from `widths`.
    public func allowsUnsigned(_ options: VariantOptions) -> Bool {
        guard options.height == nil, options.quality == nil, options.fit == .inside, options.gravity == .center,
              let width = options.width else { return false }
        return widths.contains(width)
    }

    /// Workers to run: `workers`, or one per core.
    public var workerCount: Int { workers > 0 ? workers : max(1, ProcessInfo.processInfo.activeProcessorCount) }
}
