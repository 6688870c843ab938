import CFFmpeg

/// One owned `AVPacket`: encoded data with its timestamps. Freed in `deinit`.
public final class Packet {
    let pointer: UnsafeMutablePointer<AVPacket>

    /// An empty packet, for FFmpeg to fill.
    public init() {
        guard let packet = av_packet_alloc() else { fatalError("av_packet_alloc: out of memory") }
        pointer = packet
    }

    /// A packet holding a copy of `encoded`'s bytes and timestamps.
    public convenience init(_ encoded: EncodedPacket) throws {
        self.init()
        try encoded.data.withUnsafeBytes { bytes in
            try check(av_new_packet(pointer, Int32(bytes.count)), "av_new_packet")
            if let base = bytes.baseAddress, bytes.count > 0 { pointer.pointee.data.update(from: base.assumingMemoryBound(to: UInt8.self), count: bytes.count) }
        }
        pts = encoded.pts
        dts = encoded.dts
        duration = encoded.duration
        isKeyframe = encoded.isKeyframe
    }

    deinit {
        var packet: UnsafeMutablePointer<AVPacket>? = pointer
        av_packet_free(&packet)
    }

    /// Presentation time in the time base of whoever made the packet; nil when unknown.
    public var pts: Int64? {
        get { pointer.pointee.pts == noPTS ? nil : pointer.pointee.pts }
        set { pointer.pointee.pts = newValue ?? noPTS }
    }

    /// Decoding time; nil when unknown.
    public var dts: Int64? {
        get { pointer.pointee.dts == noPTS ? nil : pointer.pointee.dts }
        set { pointer.pointee.dts = newValue ?? noPTS }
    }

    public var duration: Int64 {
        get { pointer.pointee.duration }
        set { pointer.pointee.duration = newValue }
    }

    public var isKeyframe: Bool {
        get { pointer.pointee.flags & AV_PKT_FLAG_KEY != 0 }
        set { pointer.pointee.flags = newValue ? pointer.pointee.flags | AV_PKT_FLAG_KEY : pointer.pointee.flags & ~AV_PKT_FLAG_KEY }
    }

    /// The demuxer stream this packet came from.
    public var streamIndex: Int {
        get { Int(pointer.pointee.stream_index) }
        set { pointer.pointee.stream_index = Int32(newValue) }
    }

    public var size: Int { Int(pointer.pointee.size) }

    /// A copy of the bytes.
    public var bytes: [UInt8] {
        guard let data = pointer.pointee.data, size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: size))
    }

    /// Reads the bytes without copying them.
    public func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: pointer.pointee.data, count: size))
    }

    /// A Sendable copy, for the wire. Unknown timestamps become 0 (pts) and pts (dts).
    public var encoded: EncodedPacket {
        let p = pts ?? 0
        return EncodedPacket(data: bytes, pts: p, dts: dts ?? p, duration: duration, isKeyframe: isKeyframe)
    }

    /// Rescales the timestamps from one time base to another.
    func rescale(from source: AVRational, to destination: AVRational) {
        av_packet_rescale_ts(pointer, source, destination)
    }

    /// Drops the payload, keeping the allocation for reuse.
    func unref() { av_packet_unref(pointer) }
}
