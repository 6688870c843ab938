import CFFmpeg

/// One owned output `AVFormatContext` with its file. Add streams, then write packets; ``finish()`` writes the trailer.
/// Freed (and the file closed) in `deinit`, trailer or not: a fragmented file stays playable.
public final class Muxer {
    private var context: UnsafeMutablePointer<AVFormatContext>
    private var sourceTimeBases: [AVRational] = []
    private var headerWritten = false
    private var finished = false
    public let path: String

    /// Options that make an MP4 playable while written and after a crash: one-second fragments, flushed as they close.
    public static let fragmentedMP4Options: [String: String] = [
        "movflags": "frag_keyframe+empty_moov+default_base_moof", "frag_duration": "1000000", "flush_packets": "1",
    ]

    /// Opens `path` for writing. `format` is guessed from the name when nil.
    public init(path: String, format: String? = nil) throws {
        FFmpegLog.applyDefault()
        self.path = path
        var ctx: UnsafeMutablePointer<AVFormatContext>? = nil
        try check(avformat_alloc_output_context2(&ctx, nil, format, path), "avformat_alloc_output_context2(\(path))")
        context = ctx!
        if context.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
            // On failure `deinit` still runs (every property is set) and frees the context.
            try check(avio_open(&context.pointee.pb, path, AVIO_FLAG_WRITE), "avio_open(\(path))")
        }
    }

    deinit {
        if context.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 { avio_closep(&context.pointee.pb) }
        avformat_free_context(context)
    }

    /// True when the container wants codec parameters in extradata rather than in band (MP4 does).
    public var wantsGlobalHeader: Bool { context.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0 }

    /// Adds a stream for an encoder's output; returns its index.
    public func addStream(for encoder: Encoder) throws -> Int {
        try addStream(timeBase: encoder.context.pointee.time_base) {
            try check(avcodec_parameters_from_context($0, encoder.context), "avcodec_parameters_from_context")
        }
    }

    /// Adds a stream for packets described by `parameters` (remuxing without re-encoding); returns its index.
    public func addStream(parameters: TrackParameters) throws -> Int {
        try addStream(timeBase: parameters.rational) { p in
            try parameters.describe(into: p)
            if parameters.kind == .video { p.pointee.format = AV_PIX_FMT_YUV420P.rawValue }
        }
    }

    private func addStream(timeBase: AVRational, _ describe: (UnsafeMutablePointer<AVCodecParameters>) throws -> Void) throws -> Int {
        precondition(!headerWritten, "streams must be added before the first packet")
        guard let stream = avformat_new_stream(context, nil) else { fatalError("avformat_new_stream: out of memory") }
        try describe(stream.pointee.codecpar)
        stream.pointee.time_base = timeBase
        sourceTimeBases.append(timeBase)
        return Int(stream.pointee.index)
    }

    /// Writes the header with muxer `options` (see ``fragmentedMP4Options``). Called by the first ``write(_:stream:)`` if not before.
    public func writeHeader(options: [String: String] = [:]) throws {
        guard !headerWritten else { return }
        var dictionary: OpaquePointer? = nil
        for (key, value) in options { av_dict_set(&dictionary, key, value, 0) }
        defer { av_dict_free(&dictionary) }
        try check(avformat_write_header(context, &dictionary), "avformat_write_header(\(path))")
        headerWritten = true
    }

    /// Writes `packet` (timestamps in the time base its stream was added with) to `stream`.
    public func write(_ packet: Packet, stream: Int) throws {
        try writeHeader()
        guard stream >= 0, stream < sourceTimeBases.count else {
            throw MediaError(operation: "av_interleaved_write_frame", message: "no stream \(stream)")
        }
        packet.streamIndex = stream
        packet.rescale(from: sourceTimeBases[stream], to: context.pointee.streams[stream]!.pointee.time_base)
        try check(av_interleaved_write_frame(context, packet.pointer), "av_interleaved_write_frame(\(path))")
    }

    /// Flushes what is buffered and writes the trailer. Idempotent.
    public func finish() throws {
        guard headerWritten, !finished else { return }
        finished = true
        try check(av_write_trailer(context), "av_write_trailer(\(path))")
    }
}
