import Foundation
import RTP
import Signaling

/// One track a browser publishes over WebRTC, as Janus forwards it: RTP in, media-plane messages out
/// (the `track` announcement once, then a `packet` header and payload per frame), bytes unchanged.
///
/// Times: pts is the RTP timestamp from the first packet, in the RTP clock (1/90000 for video, 1/48000 for
/// Opus). Capture time is that clock placed on the wall clock at the smallest delay seen over the first
/// packets, so the track's two clocks never step and audio and video of one browser land together.
struct UplinkTrack {
    enum Kind { case video, audio }

    let kind: Kind
    let trackID: String
    let announcement: TrackAnnouncement
    /// Video waits for Janus' retransmissions (a NACK's round trip and more: 120 ms froze pictures for seconds at
    /// 80 ms RTT and 1 % loss, the keyframes asked for being lost in turn); sound is never retransmitted, so a gap in it is
    /// only reordering, and waiting longer would only make every listener's jitter buffer (and, for lip
    /// sync, the picture) later.
    private var reorder: ReorderBuffer
    private var depacketizer = H264Depacketizer(maximumBytes: MediaLimits.maxPacketBytes)
    private var timestamps = SequenceUnwrapper()
    private var firstTimestamp: Int64?
    private var wallOffsetUs: Int64?
    private var samples = 0
    private var announced = false
    private(set) var frames = 0
    var payloadType: UInt8?

    init(kind: Kind, width: Int32, height: Int32) {
        self.kind = kind
        reorder = ReorderBuffer(maximumWait: kind == .video ? .milliseconds(250) : .milliseconds(30))
        switch kind {
        case .video:
            trackID = "v"
            announcement = TrackAnnouncement(track: trackID, kind: "video", codec: "h264", timeBaseNum: 1, timeBaseDen: 90_000,
                                             width: width, height: height, sampleRate: 0, channels: 0, extradata: "")
        case .audio:
            trackID = "a"
            announcement = TrackAnnouncement(track: trackID, kind: "audio", codec: "opus", timeBaseNum: 1, timeBaseDen: 48_000,
                                             width: 0, height: 0, sampleRate: 48_000, channels: 1, extradata: "")
        }
    }

    var clockRate: Int64 { kind == .video ? 90_000 : 48_000 }

    /// What one datagram gives: media-plane messages to send, and whether a keyframe should be asked for.
    mutating func receive(_ bytes: [UInt8], at now: ContinuousClock.Instant, wallClockUs: Int64) -> (messages: [[Data]], needsKeyframe: Bool) {
        guard !RTPPacket.isRTCP(bytes), let packet = try? RTPPacket(parsing: bytes) else { return ([], false) }
        // One stream per port: the first payload type seen is the media's (RTX never reaches a forwarder).
        if payloadType == nil { payloadType = packet.payloadType }
        guard packet.payloadType == payloadType else { return ([], false) }
        learnClock(packet.timestamp, wallClockUs: wallClockUs)
        return process(reorder.insert(packet, at: now))
    }

    /// Gaps that waited long enough are given up on (called on a timer, so a stalled stream drains).
    mutating func tick(at now: ContinuousClock.Instant) -> (messages: [[Data]], needsKeyframe: Bool) {
        process(reorder.release(at: now))
    }

    private mutating func process(_ released: [ReorderBuffer.Released]) -> (messages: [[Data]], needsKeyframe: Bool) {
        var messages: [[Data]] = []
        for item in released {
            switch kind {
            case .audio:
                guard !item.packet.payload.isEmpty else { continue }
                messages += packetMessages(payload: item.packet.payload, timestamp: item.packet.timestamp, key: true, duration: 960)
            case .video:
                if let unit = depacketizer.push(item.packet, lost: item.lost) {
                    messages += packetMessages(payload: unit.annexB, timestamp: unit.timestamp, key: unit.isKeyframe, duration: 3000)
                }
            }
        }
        let needsKeyframe = depacketizer.needsKeyframe
        depacketizer.needsKeyframe = false
        return (messages, needsKeyframe)
    }

    private mutating func learnClock(_ timestamp: UInt32, wallClockUs: Int64) {
        let ticks = timestamps.unwrap(timestamp)
        guard samples < 100 else { return }
        samples += 1
        let offset = wallClockUs - ticks * 1_000_000 / clockRate
        wallOffsetUs = min(wallOffsetUs ?? offset, offset)
    }

    private mutating func packetMessages(payload: [UInt8], timestamp: UInt32, key: Bool, duration: Int64) -> [[Data]] {
        var out: [[Data]] = []
        if !announced {
            announced = true
            out.append([WireCodec.encode(announcement)])
        }
        let ticks = timestamps.unwrap(timestamp)
        if firstTimestamp == nil { firstTimestamp = ticks }
        let pts = ticks - firstTimestamp!
        let captured = (wallOffsetUs ?? 0) + ticks * 1_000_000 / clockRate
        frames += 1
        let header = PacketHeader(track: trackID, pts: pts, dts: pts, duration: duration, key: key, capturedUs: captured)
        out.append([WireCodec.encode(header), Data(payload)])
        return out
    }
}
