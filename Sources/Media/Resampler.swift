import CFFmpeg

/// One owned `SwrContext`: converts decoded audio of any format, rate and layout to packed float
/// samples at one rate and channel count. Configured from the first frame; rebuilt if the input changes.
public final class Resampler {
    private var context: OpaquePointer?
    private var input: (format: Int32, rate: Int32, channels: Int32) = (-1, 0, 0)
    public let sampleRate: Int32
    public let channels: Int32

    public init(sampleRate: Int32 = 48000, channels: Int32 = 1) {
        self.sampleRate = sampleRate
        self.channels = channels
    }

    deinit { swr_free(&context) }

    /// Converts one decoded frame; returns interleaved float samples (possibly fewer or more than the frame held).
    public func convert(_ frame: Frame) throws -> [Float] {
        try configure(for: frame)
        let capacity = Int(swr_get_out_samples(context, frame.sampleCount)) + 32
        var output = [Float](repeating: 0, count: capacity * Int(channels))
        let converted = try output.withUnsafeMutableBytes { bytes -> Int32 in
            var destination: UnsafeMutablePointer<UInt8>? = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let source = UnsafeMutablePointer<UnsafePointer<UInt8>?>(OpaquePointer(frame.pointer.pointee.extended_data))
            return try check(swr_convert(context, &destination, Int32(capacity), source, frame.sampleCount), "swr_convert")
        }
        output.removeLast(output.count - Int(converted) * Int(channels))
        return output
    }

    private func configure(for frame: Frame) throws {
        let wanted = (frame.format, frame.sampleRate, frame.channels)
        if context != nil && wanted == input { return }
        swr_free(&context)
        guard frame.sampleRate > 0, frame.channels > 0 else {
            throw MediaError(operation: "swr_alloc_set_opts2", message: "audio frame without rate or channels")
        }
        var outLayout = AVChannelLayout()
        av_channel_layout_default(&outLayout, channels)
        defer { av_channel_layout_uninit(&outLayout) }
        try check(
            swr_alloc_set_opts2(
                &context, &outLayout, AV_SAMPLE_FMT_FLT, sampleRate, &frame.pointer.pointee.ch_layout,
                AVSampleFormat(rawValue: frame.format), frame.sampleRate, 0, nil), "swr_alloc_set_opts2")
        try check(swr_init(context), "swr_init")
        input = wanted
    }
}
