import AccessToken
import Foundation
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
    private let outbound: AsyncStream<Outbound>.Continuation
    let frames: AsyncStream<Outbound>
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
        (frames, outbound) = AsyncStream.makeStream(of: Outbound.self, bufferingPolicy: .unbounded)
    }

    /// Queues a frame for the browser (bounded by the caller, which checks ``queuedBytes`` first).
    func send(_ frame: Outbound) {
        guard !closed.load(ordering: .acquiring) else { return }
        queuedBytes.add(frame.count, ordering: .relaxed)
        outbound.yield(frame)
    }

    /// Called by the writer once a frame is written.
    func written(_ frame: Outbound) { queuedBytes.subtract(frame.count, ordering: .relaxed) }

    /// Ends the connection from the gateway's side.
    func close(reason: String) {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        closeReason.withLock { $0 = reason }
        outbound.finish()
    }

    var isClosed: Bool { closed.load(ordering: .acquiring) }
}
