import Foundation

/// Sleeps so packets leave at real time: each track's presentation time, measured from that track's
/// first packet, is matched against the time since the first packet paced. Kept apart from the sources
/// so benchmarks and tests can run them unpaced.
public final class Pacer {
    private let clock = ContinuousClock()
    private var start: ContinuousClock.Instant?
    private var origins: [Int: Int64] = [:]

    public init() {}

    /// Blocks until `packet` of `track` (index `trackIndex`) is due. Paced by decoding time, which only grows
    /// (with B-frames, presentation times jump back and forth).
    public func wait(for packet: EncodedPacket, track: TrackParameters, trackIndex: Int) {
        let origin = origins[trackIndex] ?? packet.dts
        origins[trackIndex] = origin
        wait(untilMediaTime: Double(packet.dts - origin) * track.timeBase)
    }

    /// Blocks until `seconds` have passed since the first call.
    public func wait(untilMediaTime seconds: Double) {
        let now = clock.now
        let start = self.start ?? now
        self.start = start
        let due = start + .seconds(max(0, seconds))
        if due > now { Thread.sleep(forTimeInterval: Double((due - now).components.attoseconds) / 1e18 + Double((due - now).components.seconds)) }
    }
}
