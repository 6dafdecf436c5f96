import ArgumentParser
import Foundation
import Synchronization

/// Progress on stderr: a redrawn bar on a terminal, a plain line every few seconds
/// otherwise (logs, CI). Thread-safe.
final class ProgressReporter: Sendable {
    private struct State {
        var finished = 0
        var detail = ""
        var lastPlainLine = Date()
        var barVisible = false
    }
    private let totalStorage: Mutex<Int>
    private var total: Int { totalStorage.withLock { $0 } }
    private let label: String
    private let enabled: Bool
    private let isTerminal: Bool
    private let started = Date()
    private let state = Mutex(State())

    init(total: Int, label: String, enabled: Bool) {
        self.totalStorage = Mutex(total)
        self.label = label
        self.enabled = enabled
        self.isTerminal = isatty(STDERR_FILENO) == 1
    }

    /// `detail` is shown after the counts (bytes, rate).
    func update(finished: Int, detail: String = "") {
        guard enabled else { return }
        state.withLock { state in
            state.finished = finished
            state.detail = detail
            if isTerminal {
                emit(bar(finished, detail))
                state.barVisible = true
            } else if Date().timeIntervalSince(state.lastPlainLine) >= 5 && finished < total {
                state.lastPlainLine = Date()
                emit("\(label): \(finished)/\(total) done\(detail.isEmpty ? "" : ", " + detail)\n")
            }
        }
    }

    /// Sets the total once it is known.
    func setTotal(_ total: Int) { totalStorage.withLock { $0 = total } }

    /// Prints a line above the bar (errors), whatever `enabled` says.
    func printLine(_ line: String) {
        state.withLock { state in
            if state.barVisible { emit("\r\u{1B}[K") }
            emit(line + "\n")
            if state.barVisible && enabled { emit(bar(state.finished, state.detail)) }
        }
    }

    func finish() {
        guard enabled, isTerminal else { return }
        state.withLock { state in
            if state.barVisible { emit("\r\u{1B}[K") }
            state.barVisible = false
        }
    }

    private func bar(_ finished: Int, _ detail: String) -> String {
        let width = 30
        let fraction = total > 0 ? Double(finished) / Double(total) : 1
        let filled = Int(fraction * Double(width))
        let elapsed = Date().timeIntervalSince(started)
        let rate = elapsed > 0 ? Double(finished) / elapsed : 0
        let eta = rate > 0 ? Double(total - finished) / rate : 0
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        let counts = String(format: "\r%@ [%@] %d/%d  %.1f/s  ETA %.0fs", label, bar, finished, total, rate, eta)
        return detail.isEmpty ? counts : counts + "  " + detail
    }

    private func emit(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

extension ProgressReporter {
    /// Runs `body` with `progress(done, total)` moving the bar, then ends the bar. A failure is
    /// one `error:` line on stderr and exit status 1 (the commands' shared contract).
    func run<T>(_ body: (_ progress: @escaping @Sendable (_ done: Int, _ total: Int) -> Void) throws -> T) throws -> T {
        let result: T
        do {
            result = try body { done, total in
                self.setTotal(total)
                self.update(finished: done)
            }
        } catch {
            finish()
            FileHandle.standardError.write(Data("error: \(safeLine(error))\n".utf8))
            throw ExitCode(1)
        }
        finish()
        return result
    }
}
