import CFFmpeg

/// One owned `AVFrame`: raw pictures or audio samples. Freed in `deinit`.
public final class Frame {
    let pointer: UnsafeMutablePointer<AVFrame>

    /// An empty frame, for a decoder to fill.
    public init() {
        guard let frame = av_frame_alloc() else { fatalError("av_frame_alloc: out of memory") }
        pointer = frame
    }

    /// A writable picture, YUV 4:2:0 unless told otherwise.
    public convenience init(width: Int32, height: Int32, format: PixelFormat = .yuv420p) throws {
        self.init()
        pointer.pointee.width = width
        pointer.pointee.height = height
        pointer.pointee.format = format.avFormat.rawValue
        try check(av_frame_get_buffer(pointer, 0), "av_frame_get_buffer(\(width)x\(height))")
    }

    /// A writable block of `samples` audio samples, packed or planar according to `format`.
    convenience init(samples: Int32, sampleRate: Int32, channels: Int32, format: AVSampleFormat) throws {
        self.init()
        pointer.pointee.nb_samples = samples
        pointer.pointee.sample_rate = sampleRate
        pointer.pointee.format = format.rawValue
        av_channel_layout_default(&pointer.pointee.ch_layout, channels)
        try check(av_frame_get_buffer(pointer, 0), "av_frame_get_buffer(audio)")
    }

    /// Mono 32-bit float samples.
    public convenience init(monoSamples: [Float], sampleRate: Int32) throws {
        try self.init(samples: Int32(monoSamples.count), sampleRate: sampleRate, channels: 1, format: AV_SAMPLE_FMT_FLT)
        monoSamples.withUnsafeBufferPointer { source in
            UnsafeMutableRawPointer(plane(0)!).copyMemory(from: source.baseAddress!, byteCount: source.count * 4)
        }
    }

    deinit {
        var frame: UnsafeMutablePointer<AVFrame>? = pointer
        av_frame_free(&frame)
    }

    public var width: Int32 { pointer.pointee.width }
    public var height: Int32 { pointer.pointee.height }
    public var sampleCount: Int32 { pointer.pointee.nb_samples }
    public var sampleRate: Int32 { pointer.pointee.sample_rate }
    public var channels: Int32 { pointer.pointee.ch_layout.nb_channels }
    var format: Int32 { pointer.pointee.format }

    /// Presentation time in the producer's time base: `best_effort_timestamp` for decoded frames.
    public var pts: Int64? {
        get {
            let best = pointer.pointee.best_effort_timestamp
            if best != noPTS { return best }
            return pointer.pointee.pts == noPTS ? nil : pointer.pointee.pts
        }
        set {
            pointer.pointee.pts = newValue ?? noPTS
            pointer.pointee.best_effort_timestamp = newValue ?? noPTS
        }
    }

    /// Asks an encoder to make this picture a keyframe (an IDR with libx264 `forced-idr`).
    public var forceKeyframe: Bool {
        get { pointer.pointee.pict_type == AV_PICTURE_TYPE_I }
        set { pointer.pointee.pict_type = newValue ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE }
    }

    func plane(_ index: Int) -> UnsafeMutablePointer<UInt8>? {
        withUnsafeBytes(of: pointer.pointee.data) { $0.load(fromByteOffset: index * MemoryLayout<UnsafeMutablePointer<UInt8>?>.stride, as: UnsafeMutablePointer<UInt8>?.self) }
    }

    func lineSize(_ index: Int) -> Int {
        Int(withUnsafeBytes(of: pointer.pointee.linesize) { $0.load(fromByteOffset: index * 4, as: Int32.self) })
    }

    /// Makes the buffers private to this frame (copying them if an encoder still holds a reference).
    public func makeWritable() throws { try check(av_frame_make_writable(pointer), "av_frame_make_writable") }

    // MARK: Pictures (YUV 4:2:0)

    var isYUV420: Bool { format == AV_PIX_FMT_YUV420P.rawValue || format == AV_PIX_FMT_YUVJ420P.rawValue }

    /// Fills a rectangle with a solid colour. The rectangle is clipped to the picture; use even coordinates.
    public func fill(x: Int32, y: Int32, width w: Int32, height h: Int32, color: RGB) {
        precondition(isYUV420, "fill needs a YUV 4:2:0 frame")
        let x0 = Int(max(0, x)), y0 = Int(max(0, y))
        let x1 = Int(min(width, x + w)), y1 = Int(min(height, y + h))
        guard x1 > x0, y1 > y0 else { return }
        let (cy, cu, cv) = color.yuv
        for (index, value, shift) in [(0, cy, 0), (1, cu, 1), (2, cv, 1)] {
            guard let base = plane(index) else { continue }
            let stride = lineSize(index)
            let left = x0 >> shift, right = (x1 + shift) >> shift
            for row in (y0 >> shift)..<((y1 + shift) >> shift) {
                (base + row * stride + left).update(repeating: value, count: right - left)
            }
        }
    }

    /// The average colour of a `size`x`size` square centred on (`x`, `y`), for tests and checks.
    public func averageColor(x: Int32, y: Int32, size: Int32 = 8) -> RGB {
        precondition(isYUV420, "averageColor needs a YUV 4:2:0 frame")
        var sums = [0, 0, 0], counts = [0, 0, 0]
        let half = size / 2
        for (index, shift) in [(0, Int32(0)), (1, Int32(1)), (2, Int32(1))] {
            guard let base = plane(index) else { continue }
            let stride = lineSize(index)
            let x0 = max(0, x - half) >> shift, x1 = min(width, x + half) >> shift
            let y0 = max(0, y - half) >> shift, y1 = min(height, y + half) >> shift
            for row in y0..<max(y0 + 1, y1) {
                for column in x0..<max(x0 + 1, x1) {
                    sums[index] += Int(base[Int(row) * stride + Int(column)])
                    counts[index] += 1
                }
            }
        }
        return RGB(
            y: UInt8(sums[0] / max(1, counts[0])), u: UInt8(sums[1] / max(1, counts[1])),
            v: UInt8(sums[2] / max(1, counts[2])))
    }

    // MARK: Audio

    /// The samples of a packed 32-bit float frame (``Resampler`` output), interleaved.
    public var floatSamples: [Float] {
        precondition(format == AV_SAMPLE_FMT_FLT.rawValue, "floatSamples needs packed float samples")
        guard let base = plane(0) else { return [] }
        let count = Int(sampleCount) * Int(channels)
        return base.withMemoryRebound(to: Float.self, capacity: count) { Array(UnsafeBufferPointer(start: $0, count: count)) }
    }
}
