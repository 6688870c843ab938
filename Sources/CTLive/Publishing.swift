import Foundation
import Signaling

/// What a participant publishes once its room starts: any source of encoded packets.
///
/// The SDK itself encodes nothing, so a chat-only client links no media library. `CTLiveMedia` provides
/// the FFmpeg-backed publishers (`MediaSourceOptions`: a test picture and tone, or a media file).
public protocol MediaPublisher: Sendable {
    /// Opens a source for one room, with the kinds the room uses.
    func openSource(useAudio: Bool, useVideo: Bool) throws -> any PublishedMedia
}

/// One room's source. Used by that room's media link thread only.
public protocol PublishedMedia: AnyObject {
    /// The tracks, fixed for the source's life, with their ids (the link publishes them as they are).
    var tracks: [TrackAnnouncement] { get }
    /// The next packet in roughly presentation order across tracks, or nil for now.
    func nextPacket() throws -> (trackIndex: Int, packet: PublishedPacket)?
    /// A receiver asked for a keyframe: make the next video picture one, if the source can.
    func keyframeRequested()
}

/// One encoded packet, in its track's time base.
public struct PublishedPacket: Sendable {
    public var pts: Int64
    public var dts: Int64
    public var duration: Int64
    public var isKeyframe: Bool
    public var data: [UInt8]

    public init(pts: Int64, dts: Int64, duration: Int64, isKeyframe: Bool, data: [UInt8]) {
        self.pts = pts; self.dts = dts; self.duration = duration; self.isKeyframe = isKeyframe; self.data = data
    }
}

extension TrackAnnouncement {
    /// Seconds per tick of the track's timestamps.
    var timeBase: Double { Double(timeBaseNum) / Double(max(timeBaseDen, 1)) }
}
