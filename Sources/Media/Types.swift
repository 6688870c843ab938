import Foundation
import CFFmpeg

/// The codecs that travel on the wire between publishers, the hub and the recorder.
public enum MediaCodec: String, Sendable, Codable {
    case h264, opus, aac

    var codecID: AVCodecID {
        switch self {
        case .h264: AV_CODEC_ID_H264
        case .opus: AV_CODEC_ID_OPUS
        case .aac: AV_CODEC_ID_AAC
        }
    }

    init?(codecID: AVCodecID) {
        switch codecID {
        case AV_CODEC_ID_H264: self = .h264
        case AV_CODEC_ID_OPUS: self = .opus
        case AV_CODEC_ID_AAC: self = .aac
        default: return nil
        }
    }

    /// The kind of media this codec carries.
    public var kind: MediaKind { self == .h264 ? .video : .audio }
}

/// Audio or video.
public enum MediaKind: String, Sendable, Codable {
    case audio, video
}

/// What a receiver needs to decode one track: announced once, before its packets.
public struct TrackParameters: Sendable, Codable, Equatable {
    public var kind: MediaKind
    public var codec: MediaCodec
    /// Time base of the packets' `pts`/`dts`/`duration`: `timeBaseNum / timeBaseDen` seconds.
    public var timeBaseNum: Int32
    public var timeBaseDen: Int32
    /// Codec private data (H.264 avcC or Annex-B SPS+PPS, OpusHead); may be empty when in band.
    public var extradata: [UInt8]
    /// Video only, else 0.
    public var width: Int32
    public var height: Int32
    /// Audio only, else 0.
    public var sampleRate: Int32
    public var channels: Int32

    public init(
        kind: MediaKind, codec: MediaCodec, timeBaseNum: Int32, timeBaseDen: Int32, extradata: [UInt8] = [],
        width: Int32 = 0, height: Int32 = 0, sampleRate: Int32 = 0, channels: Int32 = 0
    ) {
        self.kind = kind
        self.codec = codec
        self.timeBaseNum = timeBaseNum
        self.timeBaseDen = timeBaseDen
        self.extradata = extradata
        self.width = width
        self.height = height
        self.sampleRate = sampleRate
        self.channels = channels
    }

    /// The time base in seconds per tick.
    public var timeBase: Double { Double(timeBaseNum) / Double(max(timeBaseDen, 1)) }

    var rational: AVRational { AVRational(num: timeBaseNum, den: timeBaseDen) }
}

/// One encoded unit of a track, as it travels on the wire. Timestamps are in the track's time base.
public struct EncodedPacket: Sendable {
    public var data: [UInt8]
    public var pts: Int64
    public var dts: Int64
    public var duration: Int64
    public var isKeyframe: Bool

    public init(data: [UInt8], pts: Int64, dts: Int64, duration: Int64, isKeyframe: Bool) {
        self.data = data
        self.pts = pts
        self.dts = dts
        self.duration = duration
        self.isKeyframe = isKeyframe
    }
}

/// A source of encoded media: tracks announced up front, then packets (trackIndex into `tracks`).
public protocol EncodedMediaSource: AnyObject {
    /// The tracks this source produces, fixed for its lifetime.
    var tracks: [TrackParameters] { get }
    /// The next packet in roughly presentation order across tracks, or nil at the end.
    func nextPacket() throws -> (trackIndex: Int, packet: EncodedPacket)?
}

/// The picture layouts our own frames are made in.
public enum PixelFormat: Sendable {
    /// Planar YUV 4:2:0, BT.601 limited range: what the codecs and the compositor work in.
    case yuv420p
    /// Packed 8-bit R, G, B: what image files (PNG) store.
    case rgb24

    var avFormat: AVPixelFormat {
        switch self {
        case .yuv420p: AV_PIX_FMT_YUV420P
        case .rgb24: AV_PIX_FMT_RGB24
        }
    }
}

/// An 8-bit sRGB colour.
public struct RGB: Sendable, Codable, Equatable, Hashable, CustomStringConvertible {
    public var red: UInt8
    public var green: UInt8
    public var blue: UInt8

    public init(red: UInt8, green: UInt8, blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }

    /// The colour names we accept, besides `#RRGGBB`.
    public static let named: [String: RGB] = [
        "black": RGB(red: 0, green: 0, blue: 0), "white": RGB(red: 255, green: 255, blue: 255),
        "red": RGB(red: 255, green: 0, blue: 0), "green": RGB(red: 0, green: 160, blue: 0),
        "lime": RGB(red: 0, green: 255, blue: 0), "blue": RGB(red: 0, green: 0, blue: 255),
        "yellow": RGB(red: 255, green: 255, blue: 0), "cyan": RGB(red: 0, green: 255, blue: 255),
        "magenta": RGB(red: 255, green: 0, blue: 255), "orange": RGB(red: 255, green: 140, blue: 0),
        "purple": RGB(red: 128, green: 0, blue: 128), "gray": RGB(red: 128, green: 128, blue: 128),
        "grey": RGB(red: 128, green: 128, blue: 128), "pink": RGB(red: 255, green: 105, blue: 180),
        "teal": RGB(red: 0, green: 128, blue: 128), "navy": RGB(red: 0, green: 0, blue: 128),
    ]

    /// Parses a colour name (`red`, `blue`, ...; see ``named``) or `#RRGGBB`. Nil when neither.
    public init?(parsing text: String) {
        let lowered = text.trimmingCharacters(in: .whitespaces).lowercased()
        if let known = RGB.named[lowered] {
            self = known
            return
        }
        guard lowered.hasPrefix("#"), lowered.count == 7, let value = UInt32(lowered.dropFirst(), radix: 16) else {
            return nil
        }
        self.init(red: UInt8(value >> 16 & 0xFF), green: UInt8(value >> 8 & 0xFF), blue: UInt8(value & 0xFF))
    }

    public var description: String {
        "#" + [red, green, blue].map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }

    /// BT.601 limited-range Y, Cb, Cr: what an H.264 encoder expects by default.
    public var yuv: (y: UInt8, u: UInt8, v: UInt8) {
        let r = Double(red), g = Double(green), b = Double(blue)
        let y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
        let u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
        let v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
        return (clampByte(y), clampByte(u), clampByte(v))
    }

    /// The inverse of ``yuv``.
    public init(y: UInt8, u: UInt8, v: UInt8) {
        let c = Double(y) - 16, d = Double(u) - 128, e = Double(v) - 128
        self.init(
            red: clampByte(1.164 * c + 1.596 * e),
            green: clampByte(1.164 * c - 0.392 * d - 0.813 * e),
            blue: clampByte(1.164 * c + 2.017 * d))
    }

    /// Largest per-channel difference, to compare colours that went through a lossy codec.
    public func distance(to other: RGB) -> Int {
        max(abs(Int(red) - Int(other.red)), abs(Int(green) - Int(other.green)), abs(Int(blue) - Int(other.blue)))
    }
}

private func clampByte(_ value: Double) -> UInt8 { UInt8(max(0, min(255, value.rounded()))) }

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
