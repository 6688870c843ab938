import CFFmpeg

/// One owned decoding `AVCodecContext`. Freed in `deinit`.
public final class Decoder {
    private var context: UnsafeMutablePointer<AVCodecContext>
    /// Audio or video.
    public let kind: MediaKind

    /// A decoder for a track announced on the wire.
    public convenience init(parameters: TrackParameters, threads: Int32 = 1) throws {
        let codecParameters = avcodec_parameters_alloc()!
        defer { var p: UnsafeMutablePointer<AVCodecParameters>? = codecParameters; avcodec_parameters_free(&p) }
        let p = codecParameters
        try parameters.describe(into: p)
        try self.init(codecParameters: p, timeBase: parameters.rational, threads: threads)
    }

    /// A decoder for a demuxed stream (any codec FFmpeg decodes).
    init(codecParameters: UnsafePointer<AVCodecParameters>, timeBase: AVRational, threads: Int32) throws {
        FFmpegLog.applyDefault()
        let id = codecParameters.pointee.codec_id
        guard let codec = avcodec_find_decoder(id) else {
            throw MediaError(operation: "avcodec_find_decoder", message: "no decoder for \(String(cString: avcodec_get_name(id)))")
        }
        guard let context = avcodec_alloc_context3(codec) else { fatalError("avcodec_alloc_context3: out of memory") }
        self.context = context
        kind = codecParameters.pointee.codec_type == AVMEDIA_TYPE_VIDEO ? .video : .audio
        try check(avcodec_parameters_to_context(context, codecParameters), "avcodec_parameters_to_context")
        context.pointee.pkt_timebase = timeBase
        context.pointee.time_base = timeBase
        context.pointee.thread_count = threads
        try check(avcodec_open2(context, codec, nil), "avcodec_open2(\(String(cString: codec.pointee.name)) decoder)")
    }

    deinit {
        var context: UnsafeMutablePointer<AVCodecContext>? = context
        avcodec_free_context(&context)
    }

    /// Feeds one packet; returns the frames that became available (often one, sometimes none).
    public func decode(_ packet: Packet) throws -> [Frame] {
        let sent = avcodec_send_packet(context, packet.pointer)
        // EAGAIN cannot happen since we always drain, but a full decoder is not the packet's fault.
        if sent < 0 && sent != averrorEAGAIN { throw MediaError(operation: "avcodec_send_packet", code: sent) }
        return try receiveFrames()
    }

    /// Signals the end of the stream and returns the frames still buffered.
    public func flush() throws -> [Frame] {
        let sent = avcodec_send_packet(context, nil)
        if sent < 0 && sent != averrorEOF { throw MediaError(operation: "avcodec_send_packet(flush)", code: sent) }
        return try receiveFrames()
    }

    /// Drops everything buffered (after a seek), ready for packets from a new position.
    public func reset() { avcodec_flush_buffers(context) }

    private func receiveFrames() throws -> [Frame] {
        var frames: [Frame] = []
        while true {
            let frame = Frame()
            let received = avcodec_receive_frame(context, frame.pointer)
            if received == averrorEAGAIN || received == averrorEOF { return frames }
            try check(received, "avcodec_receive_frame")
            frames.append(frame)
        }
    }
}

extension TrackParameters {
    /// Fills FFmpeg's description of a stream (for a decoder, or a muxer's stream) from these parameters.
    func describe(into p: UnsafeMutablePointer<AVCodecParameters>) throws {
        p.pointee.codec_type = kind == .video ? AVMEDIA_TYPE_VIDEO : AVMEDIA_TYPE_AUDIO
        p.pointee.codec_id = codec.codecID
        p.pointee.width = width
        p.pointee.height = height
        p.pointee.sample_rate = sampleRate
        if channels > 0 { av_channel_layout_default(&p.pointee.ch_layout, channels) }
        try setExtradata(extradata, of: p)
    }
}

/// Copies `bytes` into FFmpeg-owned, padded extradata.
func setExtradata(_ bytes: [UInt8], of parameters: UnsafeMutablePointer<AVCodecParameters>) throws {
    guard !bytes.isEmpty else { return }
    guard bytes.count < 1 << 20 else { throw MediaError(operation: "extradata", message: "extradata of \(bytes.count) bytes is too large") }
    guard let buffer = av_mallocz(bytes.count + Int(AV_INPUT_BUFFER_PADDING_SIZE)) else { fatalError("av_mallocz: out of memory") }
    buffer.copyMemory(from: bytes, byteCount: bytes.count)
    av_freep(&parameters.pointee.extradata)
    parameters.pointee.extradata = buffer.assumingMemoryBound(to: UInt8.self)
    parameters.pointee.extradata_size = Int32(bytes.count)
}

/// Reads FFmpeg-owned extradata into an array.
func extradataBytes(_ pointer: UnsafeMutablePointer<UInt8>?, _ size: Int32) -> [UInt8] {
    guard let pointer, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: pointer, count: Int(size)))
}
