import Dispatch

extension Array where Element: Sendable {
    /// `map` on every core, results in order: each element is transformed exactly once, by one
    /// iteration, into its own slot.
    public func concurrentMap<T: Sendable>(_ transform: @Sendable (Element) -> T) -> [T] {
        let results = UnsafeMutableBufferPointer<T?>.allocate(capacity: count)
        results.initialize(repeating: nil)
        defer { results.deallocate() }
        let slots = SendableSlots(results)
        DispatchQueue.concurrentPerform(iterations: count) { index in slots.buffer[index] = transform(self[index]) }
        // concurrentPerform returns once every iteration has filled its slot.
        return results.compactMap { $0 }
    }
}

/// Disjoint slots written by concurrent iterations (each index by exactly one).
private struct SendableSlots<T>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<T>
    init(_ buffer: UnsafeMutableBufferPointer<T>) { self.buffer = buffer }
}
