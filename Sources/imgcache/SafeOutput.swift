import SafeText

extension String {
    /// This text as one safe line for a terminal or a log: control characters escaped,
    /// passwords in URLs redacted (see `SafeText`). Every value from a seed, an origin or the
    /// index goes through it before it is printed.
    var safe: String { SafeText.line(self) }
}

/// An error's description as one safe line.
func safeLine(_ value: Any) -> String { SafeText.line("\(value)") }
