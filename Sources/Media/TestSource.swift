import Foundation
import Synchronization

/// A thread-safe "make the next video frame a keyframe" flag, handed to whoever receives keyframe requests.
public final class KeyframeRequest: Sendable {
    private let pending = Atomic<Bool>(false)
    public init() {}
    /// Asks for a keyframe; safe from any thread.
    public func request() { pending.store(true, ordering: .relaxed) }
    /// True once after each request.
    func take() -> Bool { pending.exchange(false, ordering: .relaxed) }
}

/// A generated participant: a picture mostly filled with `color` (with a small square moving along the
/// bottom edge, so it is visibly live) and a sine tone at `toneHz`, encoded like a live publisher does:
/// H.264 (libx264, zerolatency, keyframe every 2 s, SPS/PPS in band) and Opus 48 kHz mono.
///
/// Unpaced: it produces packets as fast as it can encode them; put a ``Pacer`` in front for real time.
public final class TestSource: EncodedMediaSource {
    public let tracks: [TrackParameters]
    /// Set from any thread to force the next video frame to be an IDR.
    public let keyframeRequest = KeyframeRequest()
    public let color: RGB
    public let toneHz: Double
    /// Talking in turns: loud for `share` of every `period` seconds, starting `phase` (0-1) into it; nil: always.
    public var talkPattern: (period: Double, phase: Double, share: Double)?

    private let videoEncoder: Encoder?
    private let audioEncoder: Encoder?
    private let videoTrack: Int?, audioTrack: Int?
    private let fps: Int32
    private let duration: Double?
    private var picture: Frame?
    private var frameNumber: Int64 = 0
    private var sampleNumber: Int64 = 0
    private var pending: [(trackIndex: Int, packet: EncodedPacket)] = []
    private var pendingStart = 0
    private var flushed = false

    static let sampleRate: Int32 = 48000
    static let chunk = 960  // 20 ms, Opus's natural frame

    /// - Parameters:
    ///   - durationSeconds: nil for an endless source.
    ///   - preset: x264 preset; `ultrafast` keeps many sources cheap.
    public init(
        color: RGB, toneHz: Double, width: Int32 = 640, height: Int32 = 360, fps: Int32 = 30,
        useAudio: Bool = true, useVideo: Bool = true, durationSeconds: Double? = nil, preset: String = "ultrafast"
    ) throws {
        self.color = color
        self.toneHz = toneHz
        self.fps = fps
        duration = durationSeconds
        var tracks: [TrackParameters] = []
        if useVideo {
            var settings = VideoEncoderSettings(width: width & ~1, height: height & ~1, fps: fps)
            settings.preset = preset
            settings.tune = "zerolatency"
            settings.crf = 23
            let encoder = try Encoder(video: settings)
            videoEncoder = encoder
            picture = try Frame(width: settings.width, height: settings.height)
            videoTrack = tracks.count
            tracks.append(encoder.parameters)
        } else {
            videoEncoder = nil
            videoTrack = nil
        }
        if useAudio {
            let encoder = try Encoder(audio: AudioEncoderSettings(codec: .opus, sampleRate: TestSource.sampleRate, channels: 1, bitRate: 32000))
            audioEncoder = encoder
            audioTrack = tracks.count
            tracks.append(encoder.parameters)
        } else {
            audioEncoder = nil
            audioTrack = nil
        }
        self.tracks = tracks
    }

    /// Forces the next video frame to be an IDR (same as `keyframeRequest.request()`).
    public func keyframeRequested() { keyframeRequest.request() }

    public func nextPacket() throws -> (trackIndex: Int, packet: EncodedPacket)? {
        while pendingStart == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingStart = 0
            let videoTime = videoEncoder == nil ? Double.infinity : Double(frameNumber) / Double(fps)
            let audioTime = audioEncoder == nil ? Double.infinity : Double(sampleNumber) / Double(TestSource.sampleRate)
            let next = min(videoTime, audioTime)
            if next == .infinity || next >= (duration ?? .infinity) {
                if flushed { return nil }
                flushed = true
                if let videoEncoder, let videoTrack { append(try videoEncoder.encode(nil), to: videoTrack) }
                if let audioEncoder, let audioTrack { append(try audioEncoder.finishAudio(), to: audioTrack) }
                continue
            }
            if videoTime <= audioTime, let videoEncoder, let videoTrack {
                append(try videoEncoder.encode(try drawPicture()), to: videoTrack)
            } else if let audioEncoder, let audioTrack {
                append(try audioEncoder.encode(monoSamples: tone()), to: audioTrack)
            }
        }
        defer { pendingStart += 1 }
        return pending[pendingStart]
    }

    private func append(_ packets: [Packet], to track: Int) {
        for packet in packets { pending.append((track, packet.encoded)) }
    }

    private func drawPicture() throws -> Frame {
        let frame = picture!
        try frame.makeWritable()
        frame.fill(x: 0, y: 0, width: frame.width, height: frame.height, color: color)
        let side = max(8, frame.height / 10) & ~1
        let travel = Int64(max(1, frame.width - side))
        let x = Int32((frameNumber * 6) % travel) & ~1
        let marker = color.distance(to: RGB(red: 255, green: 255, blue: 255)) < 64 ? RGB(red: 0, green: 0, blue: 0) : RGB(red: 255, green: 255, blue: 255)
        frame.fill(x: x, y: frame.height - side - 4, width: side, height: side, color: marker)
        frame.pts = frameNumber
        frame.forceKeyframe = keyframeRequest.take()
        frameNumber += 1
        return frame
    }

    private func tone() -> [Float] {
        let step = 2 * Double.pi * toneHz / Double(TestSource.sampleRate)
        let start = sampleNumber
        sampleNumber += Int64(TestSource.chunk)
        let level = isTalking(at: Double(start) / Double(TestSource.sampleRate)) ? 0.3 : 0.02
        return (0..<TestSource.chunk).map { Float(level * sin(step * Double(start + Int64($0)))) }
    }

    /// With a talk pattern, the tone is loud in turns (so speaker detection has something to follow), else always.
    private func isTalking(at seconds: Double) -> Bool {
        guard let talk = talkPattern, talk.period > 0 else { return true }
        let position = (seconds / talk.period + talk.phase).truncatingRemainder(dividingBy: 1)
        return position < talk.share
    }
}
