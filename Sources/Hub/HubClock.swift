import Foundation

/// Where the hub's state reads the time: the monotonic clock for timers, the wall clock for what it
/// tells people (chat `at`, contact durations) and for token expiry. Tests drive their own.
public protocol HubClock: Sendable {
    var now: ContinuousClock.Instant { get }
    var wallNow: Date { get }
}

/// The system's clocks.
public struct SystemHubClock: HubClock {
    public init() {}
    public var now: ContinuousClock.Instant { .now }
    public var wallNow: Date { Date() }
}
