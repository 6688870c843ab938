import CFFmpeg

/// How to encode video with libx264.
public struct VideoEncoderSettings: Sendable {
    public var width: Int32
    public var height: Int32
    public var fps: Int32
    /// x264 preset: `ultrafast`, `veryfast`, ...
    public var preset: String = "veryfast"
    /// x264 tune, e.g. `zerolatency` for live publishers.
    public var tune: String? = nil
    /// Constant rate factor; used when `bitRate` is nil.
    public var crf: Int = 23
    public var bitRate: Int? = nil
    /// Longest distance between keyframes, in frames.
    public var keyframeInterval: Int32
    /// Parameter sets in the codec private data (MP4) rather than in band before each keyframe (live).
    public var globalHeader: Bool = false
    /// Encoder threads; 0 lets x264 choose.
    public var threads: Int32 = 0
    /// Leave out everything that depends on the build or the moment (version strings): same input, same bytes.
    public var bitExact = false

    public init(width: Int32, height: Int32, fps: Int32, keyframeInterval: Int32? = nil) {
        self.width = width
        self.height = height
        self.fps = fps
        self.keyframeInterval = keyframeInterval ?? 2 * fps
    }
}

/// How to encode audio.
public struct AudioEncoderSettings: Sendable {
    /// `.opus` (libopus) or `.aac` (FFmpeg's native encoder).
    public var codec: MediaCodec
    public var sampleRate: Int32 = 48000
    public var channels: Int32 = 1
    public var bitRate: Int = 64000
    /// Codec private data in extradata (MP4 wants it).
    public var globalHeader: Bool = false
    /// See ``VideoEncoderSettings/bitExact``.
    public var bitExact = false

    public init(codec: MediaCodec, sampleRate: Int32 = 48000, channels: Int32 = 1, bitRate: Int = 64000) {
        self.codec = codec
        self.sampleRate = sampleRate
        self.channels = channels
        self.bitRate = bitRate
    }
}

/// One owned encoding `AVCodecContext`. Freed in `deinit`.
///
/// Video frames must carry `pts` in 1/fps; audio can be handed over as plain samples
/// (``encode(monoSamples:)``), which this type cuts into the codec's frame size and stamps.
public final class Encoder {
    let context: UnsafeMutablePointer<AVCodecContext>
    /// What a decoder needs to decode this encoder's output.
    public private(set) var parameters: TrackParameters
    /// Samples per audio frame (0 for video or variable).
    public private(set) var frameSize: Int32

    private var pendingSamples: [Float] = []
    private var nextSamplePTS: Int64 = 0
    private var flushed = false

    /// A libx264 encoder producing YUV 4:2:0 H.264.
    public init(video settings: VideoEncoderSettings) throws {
        FFmpegLog.applyDefault()
        guard let codec = avcodec_find_encoder_by_name("libx264") else {
            throw MediaError(operation: "avcodec_find_encoder_by_name", message: "libx264 is not available")
        }
        guard let context = avcodec_alloc_context3(codec) else { fatalError("avcodec_alloc_context3: out of memory") }
        self.context = context
        let c = context
        c.pointee.width = settings.width
        c.pointee.height = settings.height
        c.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        c.pointee.time_base = AVRational(num: 1, den: settings.fps)
        c.pointee.framerate = AVRational(num: settings.fps, den: 1)
        c.pointee.gop_size = settings.keyframeInterval
        c.pointee.thread_count = settings.threads
        if let bitRate = settings.bitRate { c.pointee.bit_rate = Int64(bitRate) }
        if settings.globalHeader { c.pointee.flags |= Int32(AV_CODEC_FLAG_GLOBAL_HEADER) }
        if settings.bitExact { c.pointee.flags |= Int32(AV_CODEC_FLAG_BITEXACT) }
        var options: [String: String] = ["preset": settings.preset, "forced-idr": "1"]
        if settings.bitRate == nil { options["crf"] = String(settings.crf) }
        if let tune = settings.tune { options["tune"] = tune }
        // In-band streams repeat SPS/PPS before every keyframe so a receiver can join at any keyframe.
        if !settings.globalHeader { options["x264-params"] = "repeat-headers=1:annexb=1" }
        frameSize = 0
        parameters = TrackParameters(
            kind: .video, codec: .h264, timeBaseNum: 1, timeBaseDen: settings.fps,
            width: settings.width, height: settings.height)
        try open(codec, options: options)
    }

    /// An Opus (libopus) or AAC (native) encoder.
    public init(audio settings: AudioEncoderSettings) throws {
        FFmpegLog.applyDefault()
        let name = settings.codec == .opus ? "libopus" : "aac"
        guard settings.codec != .h264, let codec = avcodec_find_encoder_by_name(name) else {
            throw MediaError(operation: "avcodec_find_encoder_by_name", message: "\(name) is not available for audio")
        }
        guard let context = avcodec_alloc_context3(codec) else { fatalError("avcodec_alloc_context3: out of memory") }
        self.context = context
        let c = context
        c.pointee.sample_rate = settings.sampleRate
        av_channel_layout_default(&c.pointee.ch_layout, settings.channels)
        c.pointee.sample_fmt = Encoder.preferredSampleFormat(codec)
        c.pointee.bit_rate = Int64(settings.bitRate)
        c.pointee.time_base = AVRational(num: 1, den: settings.sampleRate)
        if settings.globalHeader { c.pointee.flags |= Int32(AV_CODEC_FLAG_GLOBAL_HEADER) }
        if settings.bitExact { c.pointee.flags |= Int32(AV_CODEC_FLAG_BITEXACT) }
        parameters = TrackParameters(
            kind: .audio, codec: settings.codec, timeBaseNum: 1, timeBaseDen: settings.sampleRate,
            sampleRate: settings.sampleRate, channels: settings.channels)
        frameSize = 0
        try open(codec, options: settings.codec == .opus ? ["application": "voip"] : [:])
        frameSize = c.pointee.frame_size > 0 ? c.pointee.frame_size : 1024
    }

    deinit {
        var context: UnsafeMutablePointer<AVCodecContext>? = context
        avcodec_free_context(&context)
    }

    private func open(_ codec: UnsafePointer<AVCodec>, options: [String: String]) throws {
        var dictionary: OpaquePointer? = nil
        for (key, value) in options { av_dict_set(&dictionary, key, value, 0) }
        defer { av_dict_free(&dictionary) }
        try check(avcodec_open2(context, codec, &dictionary), "avcodec_open2(\(String(cString: codec.pointee.name)))")
        parameters.extradata = extradataBytes(context.pointee.extradata, context.pointee.extradata_size)
    }

    /// Float formats first: our samples are floats.
    private static func preferredSampleFormat(_ codec: UnsafePointer<AVCodec>) -> AVSampleFormat {
        var formats: [AVSampleFormat] = []
        if var p = codec.pointee.sample_fmts {
            while p.pointee != AV_SAMPLE_FMT_NONE { formats.append(p.pointee); p += 1 }
        }
        for wanted in [AV_SAMPLE_FMT_FLTP, AV_SAMPLE_FMT_FLT] where formats.contains(wanted) { return wanted }
        return formats.first ?? AV_SAMPLE_FMT_FLTP
    }

    /// How far before its input time the encoder may stamp packets, in seconds: B-frame reordering makes a video
    /// encoder's first decoding times negative, and an audio encoder's priming samples come before time zero.
    /// A container without edit lists starts each track at its first decoding time: writers compensate with this.
    public var delay: Double {
        let c = context.pointee
        if parameters.kind == .video { return Double(c.has_b_frames) * av_q2d(c.time_base) }
        return Double(c.initial_padding) / Double(max(1, c.sample_rate))
    }

    /// Encodes one frame (nil flushes, once); returns the packets that became available, in the codec time base.
    public func encode(_ frame: Frame?) throws -> [Packet] {
        if frame == nil {
            if flushed { return [] }
            flushed = true
        }
        let sent = avcodec_send_frame(context, frame?.pointer)
        if sent < 0 && sent != averrorEOF { throw MediaError(operation: "avcodec_send_frame", code: sent) }
        var packets: [Packet] = []
        while true {
            let packet = Packet()
            let received = avcodec_receive_packet(context, packet.pointer)
            if received == averrorEAGAIN || received == averrorEOF { return packets }
            try check(received, "avcodec_receive_packet")
            packets.append(packet)
        }
    }

    /// Encodes mono samples at the encoder's rate: buffers them into whole codec frames, stamped by sample count.
    public func encode(monoSamples samples: [Float]) throws -> [Packet] {
        pendingSamples.append(contentsOf: samples)
        var packets: [Packet] = []
        let size = Int(frameSize)
        var consumed = 0
        while pendingSamples.count - consumed >= size {
            packets += try encode(audioFrame(pendingSamples[consumed..<consumed + size]))
            consumed += size
        }
        pendingSamples.removeFirst(consumed)
        return packets
    }

    /// Encodes what is buffered (padded with silence) and flushes the codec.
    public func finishAudio() throws -> [Packet] {
        var packets: [Packet] = []
        if !pendingSamples.isEmpty {
            let padding = [Float](repeating: 0, count: Int(frameSize) - pendingSamples.count)
            packets += try encode(audioFrame((pendingSamples + padding)[...]))
            pendingSamples.removeAll()
        }
        return packets + (try encode(nil))
    }

    /// One codec frame from mono samples, copied into every channel in the encoder's sample format.
    private func audioFrame(_ samples: ArraySlice<Float>) throws -> Frame {
        let channels = context.pointee.ch_layout.nb_channels
        let format = context.pointee.sample_fmt
        let frame = try Frame(samples: Int32(samples.count), sampleRate: context.pointee.sample_rate, channels: channels, format: format)
        frame.pts = nextSamplePTS
        nextSamplePTS += Int64(samples.count)
        let planar = av_sample_fmt_is_planar(format) != 0
        samples.withUnsafeBufferPointer { source in
            for channel in 0..<Int(channels) {
                let plane = planar ? channel : 0
                let step = planar ? 1 : Int(channels)
                let offset = planar ? 0 : channel
                frame.plane(plane)!.withMemoryRebound(to: Float.self, capacity: source.count * step) { destination in
                    if step == 1 {
                        destination.update(from: source.baseAddress!, count: source.count)
                    } else {
                        for i in 0..<source.count { destination[i * step + offset] = source[i] }
                    }
                }
            }
        }
        return frame
    }
}
