/// Places every packet of a session on the session clock, as it arrives: the record's timing.
///
/// A track's first packet is placed at its arrival, or by its capture time relative to its
/// participant's other tracks: the participant's first packet sets a reference (its capture time at
/// its arrival), and each track's first packet is placed at the reference plus its capture time's
/// distance from it, so audio and video captured at the same instant are placed at the same instant,
/// whichever arrived first. Later packets follow their own timestamps from there: a late packet keeps
/// its place (what it missed is a gap, nothing shifts), and a publisher whose clock runs slow stays
/// slow on its own timeline. Only timestamps that jump, or run far ahead of real time, re-anchor.
struct SessionPlacement {
    /// A track whose timestamps jump by more than this, or run this far ahead of arrival, is re-anchored.
    static let maximumDrift = 2.0
    /// A track's first capture time further than this from its participant's reference is not believed.
    static let maximumCaptureSkew = 5.0

    private struct Track {
        let timeBase: Double
        var anchor: (ticks: Int64, time: Double)?
        var lastTicks: Int64?
    }

    private var references: [String: (captured: Double, time: Double)] = [:]
    private var tracks: [String: Track] = [:]
    /// Tracks re-anchored because their timestamps jumped.
    private(set) var resyncs = 0

    private func key(_ participant: String, _ track: String) -> String { participant + "/" + track }

    /// A track (re)announced: placed afresh from its next packet.
    mutating func addTrack(participant: String, track: String, timeBase: Double) {
        tracks[key(participant, track)] = Track(timeBase: timeBase)
    }

    /// A participant left: a later stay starts from new references.
    mutating func removeParticipant(_ participant: String) {
        references[participant] = nil
        tracks = tracks.filter { !$0.key.hasPrefix(participant + "/") }
    }

    /// The session time of a packet's presentation timestamp `ticks` that arrived at `arrival`, captured
    /// at `captured` (seconds, the publisher's clock). Nil for a track never announced.
    mutating func place(participant: String, track trackID: String, ticks: Int64, arrival: Double, captured: Double?) -> Double? {
        let trackKey = key(participant, trackID)
        guard var track = tracks[trackKey] else { return nil }
        defer { tracks[trackKey] = track }
        if let anchor = track.anchor, let last = track.lastTicks {
            let placed = anchor.time + Double(ticks &- anchor.ticks) * track.timeBase
            let jump = abs(Double(ticks &- last) * track.timeBase)
            track.lastTicks = ticks
            if jump <= Self.maximumDrift && placed - arrival <= Self.maximumDrift { return placed }
            track.anchor = (ticks, arrival)
            resyncs += 1
            return arrival
        }
        var placed = arrival
        if let captured, captured.isFinite {
            if let reference = references[participant] {
                let offset = captured - reference.captured
                if abs(offset) <= Self.maximumCaptureSkew, abs(reference.time + offset - arrival) <= Self.maximumDrift {
                    placed = max(0, reference.time + offset)
                }
            } else {
                references[participant] = (captured, arrival)
            }
        }
        track.anchor = (ticks, placed)
        track.lastTicks = ticks
        return placed
    }
}
