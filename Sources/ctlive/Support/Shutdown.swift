import CTLive
import Dispatch
import Foundation

/// Why a command stops waiting.
enum StopReason: Sendable {
    case signal(String)
    case timeout
    case hubLost(String)
}

/// SIGINT and SIGTERM as an awaitable event, for graceful shutdown.
enum Shutdown {
    /// Suspends until SIGINT or SIGTERM arrives, `seconds` pass (when given), or `client` loses the hub (when given).
    @discardableResult
    static func wait(seconds: Double? = nil, client: CTLiveClient? = nil) async -> StopReason {
        await withCheckedContinuation { (continuation: CheckedContinuation<StopReason, Never>) in
            let once = Once(continuation)
            client?.onEvent { event in
                if case .disconnected(let reason) = event { once.resume(.hubLost(reason)) }
            }
            var sources: [DispatchSourceSignal] = []
            for (number, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler { once.resume(.signal(name)) }
                source.resume()
                sources.append(source)
            }
            once.keep(sources)
            if let seconds {
                DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { once.resume(.timeout) }
            }
        }
    }

    /// Resumes a continuation at most once, from whichever source fires first.
    private final class Once: @unchecked Sendable {
        // Both guarded by `lock`.
        private var continuation: CheckedContinuation<StopReason, Never>?
        private var sources: [DispatchSourceSignal] = []
        private let lock = NSLock()

        init(_ continuation: CheckedContinuation<StopReason, Never>) { self.continuation = continuation }

        func keep(_ sources: [DispatchSourceSignal]) {
            lock.lock()
            self.sources = sources
            lock.unlock()
        }

        func resume(_ value: StopReason) {
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
