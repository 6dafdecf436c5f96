import Foundation
import Synchronization

/// Progress on stderr: a redrawn bar on a terminal, a plain line every few seconds
/// otherwise (logs, CI). Thread-safe.
final class ProgressReporter: Sendable {
    private struct State {
        var finished = 0
        var lastPlainLine = Date()
        var barVisible = false
    }
    private let total: Int
    private let label: String
    private let enabled: Bool
    private let isTerminal: Bool
    private let started = Date()
    private let state = Mutex(State())

    init(total: Int, label: String, enabled: Bool) {
        self.total = total
        self.label = label
        self.enabled = enabled
        self.isTerminal = isatty(STDERR_FILENO) == 1
    }

    func update(finished: Int) {
        guard enabled else { return }
        state.withLock { state in
            state.finished = finished
            if isTerminal {
                write(bar(finished), &state)
                state.barVisible = true
            } else if Date().timeIntervalSince(state.lastPlainLine) >= 5 && finished < total {
                state.lastPlainLine = Date()
                emit("\(label): \(finished)/\(total) done\n")
            }
        }
    }

    /// Prints a line above the bar (errors), whatever `enabled` says.
    func printLine(_ line: String) {
        state.withLock { state in
            if state.barVisible { emit("\r\u{1B}[K") }
            emit(line + "\n")
            if state.barVisible && enabled { emit(bar(state.finished)) }
        }
    }

    func finish() {
        guard enabled, isTerminal else { return }
        state.withLock { state in
            if state.barVisible { emit("\r\u{1B}[K") }
            state.barVisible = false
        }
    }

    private func bar(_ finished: Int) -> String {
        let width = 30
        let fraction = total > 0 ? Double(finished) / Double(total) : 1
        let filled = Int(fraction * Double(width))
        let elapsed = Date().timeIntervalSince(started)
        let rate = elapsed > 0 ? Double(finished) / elapsed : 0
        let eta = rate > 0 ? Double(total - finished) / rate : 0
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        return String(format: "\r%@ [%@] %d/%d  %.1f/s  ETA %.0fs", label, bar, finished, total, rate, eta)
    }

    private func write(_ text: String, _ state: inout State) { emit(text) }

    private func emit(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
