/// Puts a stream's packets back in sequence order: late and retransmitted packets arrive out of order, a
/// lost one never does. A gap is waited for until `maximumWait` has passed since the packet after it came,
/// or until `maximumPackets` wait behind it; then the stream goes on without it and says so (`lost`).
///
/// Bounded in packets; duplicates and packets older than what was already released are dropped.
public struct ReorderBuffer: Sendable {
    public struct Released: Sendable, Equatable {
        public var packet: RTPPacket
        /// Packets were given up on just before this one.
        public var lost: Bool
    }

    public let maximumWait: Duration
    public let maximumPackets: Int
    private var unwrapper = SequenceUnwrapper()
    private var waiting: [Int64: (packet: RTPPacket, arrived: ContinuousClock.Instant)] = [:]
    private var next: Int64?
    public private(set) var lostPackets = 0
    public private(set) var droppedLate = 0

    public init(maximumWait: Duration = .milliseconds(150), maximumPackets: Int = 512) {
        self.maximumWait = maximumWait
        self.maximumPackets = maximumPackets
    }

    /// Adds a packet; returns the packets now in order.
    public mutating func insert(_ packet: RTPPacket, at now: ContinuousClock.Instant) -> [Released] {
        let sequence = unwrapper.unwrap(packet.sequenceNumber)
        if let next, sequence < next { droppedLate += 1; return [] }
        if next == nil { next = sequence }
        if waiting[sequence] == nil { waiting[sequence] = (packet, now) }
        return release(at: now)
    }

    /// Releases what waited too long behind a gap (call on a timer too, so a stream that stops still drains).
    public mutating func release(at now: ContinuousClock.Instant) -> [Released] {
        var out: [Released] = []
        var lost = false
        while var expected = next, !waiting.isEmpty {
            if let entry = waiting.removeValue(forKey: expected) {
                out.append(Released(packet: entry.packet, lost: lost))
                lost = false
                next = expected + 1
                continue
            }
            // A gap: skip it only when the oldest packet behind it has waited long enough, or too many wait.
            guard let oldest = waiting.keys.min(), let entry = waiting[oldest] else { break }
            guard now - entry.arrived >= maximumWait || waiting.count >= maximumPackets else { break }
            lostPackets += Int(oldest - expected)
            expected = oldest
            next = expected
            lost = true
        }
        return out
    }
}
