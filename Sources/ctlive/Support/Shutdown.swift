import Dispatch
import Foundation

/// SIGINT and SIGTERM as an awaitable event, for graceful shutdown.
enum Shutdown {
    /// Suspends until SIGINT or SIGTERM arrives (or `seconds` pass, when given). Returns the signal's name, or nil on time-out.
    static func wait(seconds: Double? = nil) async -> String? {
        await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
            let once = Once(continuation)
            var sources: [DispatchSourceSignal] = []
            for (number, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler { once.resume(name) }
                source.resume()
                sources.append(source)
            }
            once.keep(sources)
            if let seconds {
                DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { once.resume(nil) }
            }
        }
    }

    /// Resumes a continuation at most once, from whichever source fires first.
    private final class Once: @unchecked Sendable {
        // Both guarded by `lock`.
        private var continuation: CheckedContinuation<String?, Never>?
        private var sources: [DispatchSourceSignal] = []
        private let lock = NSLock()

        init(_ continuation: CheckedContinuation<String?, Never>) { self.continuation = continuation }

        func keep(_ sources: [DispatchSourceSignal]) {
            lock.lock()
            self.sources = sources
            lock.unlock()
        }

        func resume(_ value: String?) {
            lock.lock()
            let pending = continuation
            continuation = nil
            let toCancel = sources
            sources = []
            lock.unlock()
            guard let pending else { return }
            toCancel.forEach { $0.cancel() }
            pending.resume(returning: value)
        }
    }
}
