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
        // concurrentPerform returns once every iteration has filled its slot. Each result is
        // moved out, which leaves the slots uninitialized for `deallocate`: copying them out
        // instead left every result retained once more than it was released (a scan's
        // documents leaked with each scheduled sync and prune, found by the soak).
        return results.indices.compactMap { results.moveElement(from: $0) }
    }
}

/// Disjoint slots written by concurrent iterations (each index by exactly one).
private struct SendableSlots<T>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<T>
    init(_ buffer: UnsafeMutableBufferPointer<T>) { self.buffer = buffer }
}
