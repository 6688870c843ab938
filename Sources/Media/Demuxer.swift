import CFFmpeg

/// One owned input `AVFormatContext`: reads packets from any container FFmpeg knows. Freed in `deinit`.
public final class Demuxer {
    /// What one stream of the input holds.
    public struct Stream: Sendable {
        public var index: Int
        public var kind: MediaKind?
        /// Set when the stream's codec is one of ours (it can then travel without re-encoding).
        public var parameters: TrackParameters?
        public var timeBaseNum: Int32, timeBaseDen: Int32
        /// Presentation time of the stream's first packet, in seconds (0 when unknown).
        public var startTime: Double
        public var codecName: String
        public var timeBase: Double { Double(timeBaseNum) / Double(max(1, timeBaseDen)) }
    }

    private var context: UnsafeMutablePointer<AVFormatContext>?
    public let path: String
    public let streams: [Stream]
    private let packet = Packet()

    public init(path: String) throws {
        FFmpegLog.applyDefault()
        self.path = path
        try check(avformat_open_input(&context, path, nil, nil), "avformat_open_input(\(path))")
        let ctx = context!
        let found = avformat_find_stream_info(ctx, nil)
        if found < 0 {
            avformat_close_input(&context)
            throw MediaError(operation: "avformat_find_stream_info(\(path))", code: found)
        }
        streams = (0..<Int(ctx.pointee.nb_streams)).map { index in
            let stream = ctx.pointee.streams[index]!
            let p = stream.pointee.codecpar!
            let tb = stream.pointee.time_base
            let kind: MediaKind? =
                p.pointee.codec_type == AVMEDIA_TYPE_VIDEO ? .video : p.pointee.codec_type == AVMEDIA_TYPE_AUDIO ? .audio : nil
            var parameters: TrackParameters? = nil
            if let kind, let codec = MediaCodec(codecID: p.pointee.codec_id), codec.kind == kind {
                parameters = TrackParameters(
                    kind: kind, codec: codec, timeBaseNum: tb.num, timeBaseDen: tb.den,
                    extradata: extradataBytes(p.pointee.extradata, p.pointee.extradata_size),
                    width: p.pointee.width, height: p.pointee.height,
                    sampleRate: p.pointee.sample_rate, channels: p.pointee.ch_layout.nb_channels)
            }
            let start = stream.pointee.start_time == noPTS ? 0 : Double(stream.pointee.start_time) * av_q2d(tb)
            return Stream(
                index: index, kind: kind, parameters: parameters, timeBaseNum: tb.num, timeBaseDen: tb.den,
                startTime: start, codecName: String(cString: avcodec_get_name(p.pointee.codec_id)))
        }
    }

    deinit { avformat_close_input(&context) }

    /// The stream FFmpeg considers best for `kind`, if any.
    public func bestStream(_ kind: MediaKind) -> Int? {
        let index = av_find_best_stream(context, kind == .video ? AVMEDIA_TYPE_VIDEO : AVMEDIA_TYPE_AUDIO, -1, -1, nil, 0)
        return index >= 0 ? Int(index) : nil
    }

    /// A decoder for stream `index`, whatever its codec.
    public func makeDecoder(stream index: Int, threads: Int32 = 1) throws -> Decoder {
        let stream = context!.pointee.streams[index]!
        return try Decoder(codecParameters: stream.pointee.codecpar, timeBase: stream.pointee.time_base, threads: threads)
    }

    func withStream<R>(_ index: Int, _ body: (UnsafeMutablePointer<AVStream>) -> R) -> R {
        body(context!.pointee.streams[index]!)
    }

    /// The next packet of any stream (timestamps in that stream's time base), or nil at the end.
    public func read() throws -> Packet? {
        let next = Packet()
        let result = av_read_frame(context, next.pointer)
        if result == averrorEOF { return nil }
        try check(result, "av_read_frame(\(path))")
        return next
    }

    /// Moves to the last keyframe of stream `index` at or before `seconds` (decoders of the input must then be ``Decoder/reset()``).
    public func seek(to seconds: Double, stream index: Int) throws {
        let target = Int64((seconds / streams[index].timeBase).rounded(.down))
        try check(avformat_seek_file(context, Int32(index), Int64.min, target, target, 0), "avformat_seek_file(\(path), \(seconds) s)")
    }

    /// Goes back to the start of the input, for looping.
    public func rewind() throws {
        try check(avformat_seek_file(context, -1, Int64.min, 0, 0, 0), "avformat_seek_file(\(path))")
    }
}
