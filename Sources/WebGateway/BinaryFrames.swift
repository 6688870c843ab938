import Foundation
import Signaling

/// The layout of a WebSocket binary message: one media-plane ZeroMQ message, on one of the browser's
/// media channels (one per room it is in).
///
/// ```
/// u8 channel (0-3) · u8 frame count (0-3) · per frame: u32 big-endian length, bytes
/// ```
///
/// Browser → gateway: 1 frame (JSON) or 2 (`packet` JSON, payload); 0 frames close the channel.
/// Gateway → browser: what the hub's media socket sent, frame for frame (1: the hub's JSON; 2: sender
/// id, `track` JSON; 3: sender id, `packet` JSON, payload).
public enum BinaryFrames {
    public static let maximumChannels: UInt8 = 4

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    public static func encode(channel: UInt8, frames: [Data]) -> Data {
        var out = Data(capacity: 2 + frames.reduce(0) { $0 + 4 + $1.count })
        out.append(channel)
        out.append(UInt8(frames.count))
        for frame in frames {
            let length = UInt32(frame.count).bigEndian
            withUnsafeBytes(of: length) { out.append(contentsOf: $0) }
            out.append(frame)
        }
        return out
    }

    /// Splits a message, refusing anything the media plane would refuse by size: the last of two or
    /// more frames is a payload (1 MiB at most), the others JSON or ids (64 KiB). A browser's has 2 frames at most.
    public static func decode(_ bytes: some Collection<UInt8>, maximumFrames: Int = 2) throws(Invalid) -> (channel: UInt8, frames: [Data]) {
        var rest = bytes[...]
        guard rest.count >= 2 else { throw Invalid(description: "a binary message starts with a channel and a frame count") }
        let channel = rest.removeFirst()
        let count = Int(rest.removeFirst())
        guard channel < maximumChannels else { throw Invalid(description: "channel \(channel): at most \(maximumChannels) media channels") }
        guard count <= maximumFrames else {
            throw Invalid(description: maximumFrames == 2 ? "a browser sends at most 2 frames (packet header, payload)" : "more than \(maximumFrames) frames")
        }
        var frames: [Data] = []
        for index in 0..<count {
            guard rest.count >= 4 else { throw Invalid(description: "frame \(index): cut off in its length") }
            let length = rest.prefix(4).reduce(0) { $0 << 8 | Int($1) }
            rest = rest.dropFirst(4)
            let limit = count >= 2 && index == count - 1 ? MediaLimits.maxPacketBytes : SignalingProtocol.maxMessageBytes
            guard length <= limit else { throw Invalid(description: "frame \(index): \(length) bytes, more than \(limit)") }
            guard rest.count >= length else { throw Invalid(description: "frame \(index): cut off") }
            frames.append(Data(rest.prefix(length)))
            rest = rest.dropFirst(length)
        }
        guard rest.isEmpty else { throw Invalid(description: "\(rest.count) bytes after the last frame") }
        return (channel, frames)
    }
}
