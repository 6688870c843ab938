import Foundation

/// Media-plane messages: on the hub's media ROUTER socket, a message is 1 frame (JSON) from a
/// client, or 2 frames (JSON header + encoded payload) for a packet. The hub forwards
/// announcements and packets to subscribers with the publisher's participant id as an extra first
/// frame, leaving the header as it was published. See `docs/PROTOCOL.md`, *Media plane*.
public enum MediaLimits {
    /// An encoded packet larger than this is refused (a 1080p keyframe is well under 1 MiB).
    public static let maxPacketBytes = 1 << 20
    /// Tracks one participant may publish.
    public static let maxTracks = 4
    /// `extradata` (codec parameters) after base64 decoding.
    public static let maxExtradataBytes = 64 * 1024
}

/// First message on a media connection: the token from `roomStarted` / `recordRoom`.
public struct MediaHello: WireMessage {
    public static let type = "mediaHello"
    public var token: String
    public init(token: String) { self.token = token }
    public func validate() throws(ProtocolError) { try Check.id(token, "token") }
}

/// Reply to a good `mediaHello`.
public struct MediaWelcome: WireMessage {
    public static let type = "mediaWelcome"
    public var roomID: String
    public var participant: Participant
    public init(roomID: String, participant: Participant) { self.roomID = roomID; self.participant = participant }
}

/// A track a participant publishes, with its codec parameters.
public struct TrackAnnouncement: WireMessage {
    public static let type = "track"
    public var track: String
    /// `audio` or `video`.
    public var kind: String
    /// `h264`, `opus` or `aac`. The hub relays without decoding; receivers check what they get.
    public var codec: String
    public var timeBaseNum: Int32
    public var timeBaseDen: Int32
    public var width: Int32
    public var height: Int32
    public var sampleRate: Int32
    public var channels: Int32
    /// Codec private data, base64.
    public var extradata: String

    public init(track: String, kind: String, codec: String, timeBaseNum: Int32, timeBaseDen: Int32, width: Int32, height: Int32,
                sampleRate: Int32, channels: Int32, extradata: String) {
        self.track = track; self.kind = kind; self.codec = codec; self.timeBaseNum = timeBaseNum; self.timeBaseDen = timeBaseDen
        self.width = width; self.height = height; self.sampleRate = sampleRate; self.channels = channels; self.extradata = extradata
    }

    public func validate() throws(ProtocolError) {
        try Check.id(track, "track")
        guard kind == "audio" || kind == "video" else { throw ProtocolError(.invalidField, "kind must be audio or video") }
        guard ["h264", "opus", "aac"].contains(codec) else { throw ProtocolError(.invalidField, "codec must be h264, opus or aac") }
        guard timeBaseNum > 0, timeBaseDen > 0 else { throw ProtocolError(.invalidField, "timeBaseNum and timeBaseDen must be positive") }
        guard (0...8192).contains(width), (0...8192).contains(height), (0...384_000).contains(sampleRate), (0...8).contains(channels) else {
            throw ProtocolError(.invalidField, "width, height, sampleRate or channels out of range")
        }
        guard extradata.utf8.count <= MediaLimits.maxExtradataBytes * 4 / 3 + 4 else { throw ProtocolError(.tooLarge, "extradata too large") }
    }
}

/// The header frame of an encoded packet; the payload is the next frame.
public struct PacketHeader: WireMessage {
    public static let type = "packet"
    public var track: String
    public var pts: Int64
    public var dts: Int64
    public var duration: Int64
    public var key: Bool
    /// Capture time, microseconds since 1970 on the publisher's clock.
    public var capturedUs: Int64

    public init(track: String, pts: Int64, dts: Int64, duration: Int64, key: Bool, capturedUs: Int64) {
        self.track = track; self.pts = pts; self.dts = dts; self.duration = duration; self.key = key; self.capturedUs = capturedUs
    }

    public func validate() throws(ProtocolError) { try Check.id(track, "track") }
}

/// Hub → publisher: send a keyframe on this track soon (a subscriber joined or lost packets).
/// Subscriber → hub: the same, naming the publisher (`participant`) whose track could not be decoded.
public struct KeyframeRequest: WireMessage {
    public static let type = "keyframeRequest"
    public var track: String
    /// Subscriber → hub only: the publisher asked.
    public var participant: String?
    public init(track: String, participant: String? = nil) { self.track = track; self.participant = participant }

    public func validate() throws(ProtocolError) {
        try Check.id(track, "track")
        try Check.optionalID(participant, "participant")
    }
}

/// Subscriber → hub: `participant`'s video reaches this subscriber over a link narrower than it is sent at;
/// keep it under `maxKbps` for a while (5 s; a congested subscriber says it again each second).
/// Hub → publisher: the same, without `participant`. Publishers that cannot adapt ignore it.
public struct BitrateRequest: WireMessage {
    public static let type = "bitrateRequest"
    public var track: String
    public var participant: String?
    public var maxKbps: Int
    public init(track: String, participant: String? = nil, maxKbps: Int) {
        self.track = track; self.participant = participant; self.maxKbps = maxKbps
    }

    public func validate() throws(ProtocolError) {
        try Check.id(track, "track")
        try Check.optionalID(participant, "participant")
        guard (30...100_000).contains(maxKbps) else { throw ProtocolError(.invalidField, "maxKbps must be 30 to 100000") }
    }
}

extension WireCodec {
    /// What clients send on the media socket.
    public static let mediaToHub = WireCodec(mediaTypes: [MediaHello.self, TrackAnnouncement.self, PacketHeader.self, KeyframeRequest.self,
                                                          BitrateRequest.self, Ping.self])
    /// What the hub sends on the media socket (the relayed `track` and `packet` among them).
    public static let mediaFromHub = WireCodec(mediaTypes: [MediaWelcome.self, ErrorReply.self, KeyframeRequest.self, BitrateRequest.self,
                                                            TrackAnnouncement.self, PacketHeader.self, Pong.self])
}
