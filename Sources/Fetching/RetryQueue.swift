import Foundation

/// Transfers waiting to be retried, earliest first: a binary min-heap on the due time, so that
/// 100,000 failing URLs cost O(log n) per retry instead of a scan of every waiting one per
/// turn of the transfer loop.
struct RetryQueue {
    struct Item {
        var due: Date
        var index: Int
    }

    private var heap: [Item] = []

    var isEmpty: Bool { heap.isEmpty }
    /// When the earliest retry is due.
    var nextDue: Date? { heap.first?.due }

    mutating func push(_ item: Item) {
        heap.append(item)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].due < heap[parent].due else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns every item due at `now` or before, earliest first.
    /// Every index waiting, due or not.
    mutating func popAll() -> [Int] {
        defer { heap = [] }
        return heap.map(\.index)
    }

    mutating func popDue(_ now: Date) -> [Int] {
        var due: [Int] = []
        while let first = heap.first, first.due <= now {
            due.append(first.index)
            heap.swapAt(0, heap.count - 1)
            heap.removeLast()
            siftDown()
        }
        return due
    }

    private mutating func siftDown() {
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count && heap[left].due < heap[smallest].due { smallest = left }
            if right < heap.count && heap[right].due < heap[smallest].due { smallest = right }
            guard smallest != parent else { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
