import Foundation
import Synchronization

/// The recording's clock: seconds since the recording started. Injectable so tests can drive time.
public protocol SessionClock: Sendable {
    /// Seconds since the session started.
    func now() -> Double
}

/// Real time, from a monotonic clock, starting at zero when created.
public struct ContinuousSessionClock: SessionClock {
    private let start = ContinuousClock.now
    public init() {}
    public func now() -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }
}

/// A clock that only moves when told to (tests, replays).
public final class ManualSessionClock: SessionClock {
    private let time = Mutex<Double>(0)
    public init() {}
    public func now() -> Double { time.withLock { $0 } }
    /// Sets the time; it never goes backwards.
    public func set(_ seconds: Double) { time.withLock { $0 = max($0, seconds) } }
}
