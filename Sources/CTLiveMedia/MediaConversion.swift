import CTLive
import Foundation
import Media

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
    public func makeSource(useAudio: Bool, useVideo: Bool) throws -> any EncodedMediaSource {
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

extension MediaSourceOptions: MediaPublisher {
    public func openSource(useAudio: Bool, useVideo: Bool) throws -> any PublishedMedia {
        EncodedSourcePublisher(try makeSource(useAudio: useAudio, useVideo: useVideo), useAudio: useAudio, useVideo: useVideo)
    }
}

/// A Media source as the SDK publishes it: its tracks named by their kind, keyframes on request.
final class EncodedSourcePublisher: PublishedMedia {
    private let source: any EncodedMediaSource
    let tracks: [TrackAnnouncement]
    /// The source's track index for each published one (the kinds the room does not use are left out).
    private let published: [Int: Int]

    init(_ source: any EncodedMediaSource, useAudio: Bool, useVideo: Bool) {
        self.source = source
        // Track ids are the kinds: one audio and one video track per participant.
        let wanted = source.tracks.enumerated().filter { ($0.element.kind == .audio && useAudio) || ($0.element.kind == .video && useVideo) }
        tracks = wanted.map { TrackAnnouncement(track: $0.element.kind.rawValue, $0.element) }
        published = Dictionary(uniqueKeysWithValues: wanted.enumerated().map { ($0.element.offset, $0.offset) })
    }

    func nextPacket() throws -> (trackIndex: Int, packet: PublishedPacket)? {
        while let (index, packet) = try source.nextPacket() {
            guard let track = published[index] else { continue }
            return (track, PublishedPacket(pts: packet.pts, dts: packet.dts, duration: packet.duration, isKeyframe: packet.isKeyframe, data: packet.data))
        }
        return nil
    }

    func keyframeRequested() {
        (source as? TestSource)?.keyframeRequested()
        (source as? FileSource)?.keyframeRequest.request()
    }
}
