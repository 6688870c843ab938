import CFFmpeg

/// A media file as a publisher: its best video and audio streams, passed through when already H.264/Opus,
/// re-encoded (H.264 zerolatency / Opus 48 kHz mono) otherwise; optionally looped forever.
public final class FileSource: EncodedMediaSource {
    public private(set) var tracks: [TrackParameters] = []
    /// Set from any thread to force the next re-encoded video frame to be an IDR (pass-through video cannot).
    public let keyframeRequest = KeyframeRequest()

    private enum Route {
        case passThrough
        case video(Decoder, Encoder, fps: Double)
        case audio(Decoder, Resampler, Encoder)
    }

    private struct Lane {
        var stream: Demuxer.Stream
        var track: Int
        var route: Route
        /// Added to pass-through timestamps after each loop, in the stream's time base.
        var offset: Int64 = 0
        var endSeconds: Double = 0
        var scaler: Scaler?
        var framesOut: Int64 = 0
    }

    private let demuxer: Demuxer
    private let loop: Bool
    private var lanes: [Int: Lane] = [:]  // by stream index
    private var pending: [(trackIndex: Int, packet: EncodedPacket)] = []
    private var pendingStart = 0
    private var ended = false

    public init(path: String, loop: Bool = false) throws {
        demuxer = try Demuxer(path: path)
        self.loop = loop
        for kind in [MediaKind.video, .audio] {
            guard let index = demuxer.bestStream(kind) else { continue }
            let stream = demuxer.streams[index]
            let track = tracks.count
            if let parameters = stream.parameters, parameters.codec == (kind == .video ? .h264 : .opus) {
                tracks.append(parameters)
                lanes[index] = Lane(stream: stream, track: track, route: .passThrough)
                continue
            }
            let decoder = try demuxer.makeDecoder(stream: index)
            if kind == .video {
                let (width, height, fps) = try demuxer.videoGeometry(stream: index)
                var settings = VideoEncoderSettings(width: width & ~1, height: height & ~1, fps: Int32(fps.rounded()))
                settings.preset = "veryfast"
                settings.tune = "zerolatency"
                let encoder = try Encoder(video: settings)
                tracks.append(encoder.parameters)
                lanes[index] = Lane(stream: stream, track: track, route: .video(decoder, encoder, fps: fps))
            } else {
                let encoder = try Encoder(audio: AudioEncoderSettings(codec: .opus))
                tracks.append(encoder.parameters)
                lanes[index] = Lane(stream: stream, track: track, route: .audio(decoder, Resampler(), encoder))
            }
        }
        guard !tracks.isEmpty else { throw MediaError(operation: "FileSource(\(path))", message: "no audio or video stream") }
    }

    public func nextPacket() throws -> (trackIndex: Int, packet: EncodedPacket)? {
        while pendingStart == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingStart = 0
            if ended { return nil }
            guard let packet = try demuxer.read() else {
                if loop && lanes.values.contains(where: { $0.endSeconds > 0 }) {
                    restart()
                } else {
                    try drain()
                    ended = true
                }
                continue
            }
            guard var lane = lanes[packet.streamIndex] else { continue }
            try process(packet, in: &lane)
            lanes[packet.streamIndex] = lane
        }
        defer { pendingStart += 1 }
        return pending[pendingStart]
    }

    private func process(_ packet: Packet, in lane: inout Lane) throws {
        let tb = lane.stream.timeBase
        if let pts = packet.pts { lane.endSeconds = max(lane.endSeconds, Double(pts + max(packet.duration, 0)) * tb - lane.stream.startTime) }
        switch lane.route {
        case .passThrough:
            if let pts = packet.pts { packet.pts = pts + lane.offset }
            if let dts = packet.dts { packet.dts = dts + lane.offset }
            pending.append((lane.track, packet.encoded))
        case .video(let decoder, let encoder, _):
            for frame in try decoder.decode(packet) { try encodeVideo(frame, encoder, &lane) }
        case .audio(let decoder, let resampler, let encoder):
            for frame in try decoder.decode(packet) {
                append(try encoder.encode(monoSamples: try resampler.convert(frame)), lane.track)
            }
        }
    }

    private func encodeVideo(_ frame: Frame, _ encoder: Encoder, _ lane: inout Lane) throws {
        let width = encoder.parameters.width, height = encoder.parameters.height
        if lane.scaler.map({ !$0.accepts(frame) }) ?? true { lane.scaler = try Scaler(like: frame, width: width, height: height) }
        let picture = try lane.scaler!.scale(frame)
        // Re-encoded video is stamped by frame count: constant frame rate, continuous across loops.
        picture.pts = lane.framesOut
        picture.forceKeyframe = keyframeRequest.take()
        lane.framesOut += 1
        append(try encoder.encode(picture), lane.track)
    }

    private func append(_ packets: [Packet], _ track: Int) {
        for packet in packets { pending.append((track, packet.encoded)) }
    }

    /// Rewinds for the next loop, shifting pass-through timestamps by the longest lane's length.
    private func restart() {
        let length = lanes.values.map(\.endSeconds).max() ?? 0
        for (index, var lane) in lanes {
            lane.offset += Int64((length / lane.stream.timeBase).rounded())
            lane.endSeconds = 0
            lanes[index] = lane
        }
        do { try demuxer.rewind() } catch { ended = true }
    }

    /// Flushes decoders and encoders at the end of a non-looping file.
    private func drain() throws {
        for index in lanes.keys.sorted() {
            var lane = lanes[index]!
            switch lane.route {
            case .passThrough: break
            case .video(let decoder, let encoder, _):
                for frame in try decoder.flush() { try encodeVideo(frame, encoder, &lane) }
                append(try encoder.encode(nil), lane.track)
            case .audio(let decoder, let resampler, let encoder):
                for frame in try decoder.flush() { append(try encoder.encode(monoSamples: try resampler.convert(frame)), lane.track) }
                append(try encoder.finishAudio(), lane.track)
            }
            lanes[index] = lane
        }
    }
}

extension Demuxer {
    /// Width, height and frame rate of a video stream (30 fps when the container does not say).
    func videoGeometry(stream index: Int) throws -> (Int32, Int32, Double) {
        let (width, height, rate) = withStream(index) { s in
            (s.pointee.codecpar.pointee.width, s.pointee.codecpar.pointee.height, av_q2d(s.pointee.avg_frame_rate))
        }
        guard width > 0, height > 0 else { throw MediaError(operation: "videoGeometry", message: "video stream without size") }
        return (width, height, rate.isFinite && rate > 1 && rate < 121 ? rate : 30)
    }
}
