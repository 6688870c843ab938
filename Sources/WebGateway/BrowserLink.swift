import AccessToken
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// One browser's WebSocket as the hub thread sees it: where to send, and how much is waiting.
///
/// The hub thread hands frames to ``send(_:)``; a writer task drains them into the WebSocket. What is
/// waiting is counted in bytes, so the hub thread can drop media (or cut the browser off) instead of
/// queueing without end for a browser that does not read.
final class BrowserLink: Sendable {
    enum Outbound: Sendable {
        case text(Data)
        case binary(Data)
        /// WebSocket control frames: the gateway's liveness ping, and the answer to the browser's.
        case ping
        case pong(Data)
        var count: Int {
            switch self {
            case .text(let data), .binary(let data): data.count
            case .ping, .pong: 0
            }
        }
    }

    let id: UInt64
    /// Who the token says this browser is; nil when the gateway runs without tokens (loopback only).
    let claims: AccessClaims?
    /// The raw token, for the hub (a CURVE hub checks it again).
    let token: String?
    private let outbound: AsyncStream<(Outbound, UInt64)>.Continuation
    /// Frames for the writer, each with when it was queued (ContinuousClock nanoseconds).
    let frames: AsyncStream<(Outbound, UInt64)>
    /// When the oldest frame still waiting was queued (at the latest), for ``queueDelay``.
    private let oldestWaitingSince = Atomic<UInt64>(0)
    let queuedBytes = Atomic<Int>(0)
    /// Messages from this browser handed to the hub thread and not yet sent on.
    let inboundInFlight = Atomic<Int>(0)
    /// When the browser last sent anything (ms since 1970).
    let lastHeard = Atomic<Int64>(0)
    let droppedToBrowser = Atomic<Int>(0)
    private let closed = Atomic<Bool>(false)
    /// Set when the gateway ends the connection, with the reason the browser is given.
    let closeReason = Mutex<String?>(nil)

    init(id: UInt64, claims: AccessClaims?, token: String?) {
        self.id = id
        self.claims = claims
        self.token = token
        (frames, outbound) = AsyncStream.makeStream(of: (Outbound, UInt64).self, bufferingPolicy: .unbounded)
    }

    /// Queues a frame for the browser (bounded by the caller, which checks ``queuedBytes`` and ``queueDelay`` first).
    func send(_ frame: Outbound) {
        guard !closed.load(ordering: .acquiring) else { return }
        let now = Self.now()
        if queuedBytes.add(frame.count, ordering: .relaxed).oldValue == 0 { oldestWaitingSince.store(now, ordering: .relaxed) }
        outbound.yield((frame, now))
    }

    /// Called by the writer once a frame (queued at `queuedAt`) is written: what waits now was queued no earlier.
    func written(_ frame: Outbound, queuedAt: UInt64) {
        oldestWaitingSince.store(queuedAt, ordering: .relaxed)
        queuedBytes.subtract(frame.count, ordering: .relaxed)
    }

    /// How long the oldest frame waiting for this browser has waited (at most): the congestion a byte count
    /// hides, since a slow link drains a few kilobytes in a second and a fast one megabytes.
    var queueDelay: Duration {
        guard queuedBytes.load(ordering: .relaxed) > 0 else { return .zero }
        let since = oldestWaitingSince.load(ordering: .relaxed), now = Self.now()
        return now > since ? .nanoseconds(Int64(now - since)) : .zero
    }

    private static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// Ends the connection from the gateway's side.
    func close(reason: String) {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        closeReason.withLock { $0 = reason }
        outbound.finish()
    }

    var isClosed: Bool { closed.load(ordering: .acquiring) }
}
