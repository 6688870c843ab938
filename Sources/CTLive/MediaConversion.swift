import Foundation
import Media
import Signaling

/// The media plane's wire forms of the Media module's types.
extension TrackAnnouncement {
    public init(track: String, _ parameters: TrackParameters) {
        self.init(track: track, kind: parameters.kind.rawValue, codec: parameters.codec.rawValue,
                  timeBaseNum: parameters.timeBaseNum, timeBaseDen: parameters.timeBaseDen,
                  width: parameters.width, height: parameters.height,
                  sampleRate: parameters.sampleRate, channels: parameters.channels,
                  extradata: Data(parameters.extradata).base64EncodedString())
    }

    /// The parameters announced, or nil when they do not describe a codec we know (already validated on the hub).
    public var parameters: TrackParameters? {
        guard let kind = MediaKind(rawValue: kind), let codec = MediaCodec(rawValue: codec),
              let extradata = Data(base64Encoded: extradata), extradata.count <= MediaLimits.maxExtradataBytes else { return nil }
        return TrackParameters(kind: kind, codec: codec, timeBaseNum: timeBaseNum, timeBaseDen: timeBaseDen,
                               extradata: [UInt8](extradata), width: width, height: height,
                               sampleRate: sampleRate, channels: channels)
    }
}

extension PacketHeader {
    public init(track: String, _ packet: EncodedPacket, capturedUs: Int64) {
        self.init(track: track, pts: packet.pts, dts: packet.dts, duration: packet.duration, key: packet.isKeyframe, capturedUs: capturedUs)
    }

    public func packet(payload: Data) -> EncodedPacket {
        EncodedPacket(data: [UInt8](payload), pts: pts, dts: dts, duration: duration, isKeyframe: key)
    }
}

/// What a participant publishes when its room starts.
public struct MediaSourceOptions: Sendable {
    public enum Kind: Sendable, Equatable {
        /// A generated picture in `color` and a tone at `toneHz`.
        case testsrc
        /// A media file, looped, paced at real time.
        case file(String)
    }

    public var kind: Kind
    public var color: RGB
    public var toneHz: Double
    public var width: Int32
    public var height: Int32
    public var fps: Int32
    /// Test tone in turns: loud for `share` of every `period` seconds from `phase` (0-1); nil: always loud.
    public var talkPeriod: Double?
    public var talkPhase = 0.0
    public var talkShare = 0.5

    public init(kind: Kind = .testsrc, color: RGB = RGB(red: 0, green: 160, blue: 0), toneHz: Double = 440,
                width: Int32 = 640, height: Int32 = 360, fps: Int32 = 30) {
        self.kind = kind; self.color = color; self.toneHz = toneHz; self.width = width; self.height = height; self.fps = fps
    }

    /// Opens the source, keeping only the kinds the room uses.
    func makeSource(useAudio: Bool, useVideo: Bool) throws -> any EncodedMediaSource {
        switch kind {
        case .testsrc:
            let source = try TestSource(color: color, toneHz: toneHz, width: width, height: height, fps: fps, useAudio: useAudio, useVideo: useVideo)
            if let talkPeriod { source.talkPattern = (talkPeriod, talkPhase, talkShare) }
            return source
        case .file(let path):
            return try FileSource(path: path, loop: true)
        }
    }
}
