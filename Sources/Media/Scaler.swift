import CFFmpeg

/// One owned `SwsContext`: converts and scales pictures of one source geometry to one destination size
/// and format (YUV 4:2:0 unless told otherwise). Freed in `deinit`.
public final class Scaler {
    private let context: OpaquePointer
    public let sourceWidth: Int32, sourceHeight: Int32
    private let sourceFormat: Int32
    public let width: Int32, height: Int32
    /// The format of the pictures this scaler makes.
    public let format: PixelFormat

    /// A scaler for pictures shaped like `source`, to `width`x`height` in `format`. Bilinear: cheap and good enough for tiles.
    public init(like source: Frame, width: Int32, height: Int32, format: PixelFormat = .yuv420p) throws {
        guard source.width > 0, source.height > 0, width > 0, height > 0,
            let context = sws_getContext(
                source.width, source.height, AVPixelFormat(rawValue: source.format), width, height, format.avFormat,
                SWS_BILINEAR, nil, nil, nil)
        else {
            throw MediaError(operation: "sws_getContext", message: "cannot scale \(source.width)x\(source.height) format \(source.format) to \(width)x\(height) \(format)")
        }
        self.context = context
        sourceWidth = source.width
        sourceHeight = source.height
        sourceFormat = source.format
        self.width = width
        self.height = height
        self.format = format
    }

    deinit { sws_freeContext(context) }

    /// True when `source` has the geometry and format this scaler was made for.
    public func accepts(_ source: Frame) -> Bool {
        source.width == sourceWidth && source.height == sourceHeight && source.format == sourceFormat
    }

    /// Scales `source` into the rectangle at (`x`, `y`) of `destination` (YUV 4:2:0; `x`, `y` even).
    public func scale(_ source: Frame, into destination: Frame, x: Int32, y: Int32) throws {
        guard format == .yuv420p, accepts(source), destination.isYUV420, x >= 0, y >= 0, x + width <= destination.width, y + height <= destination.height else {
            throw MediaError(operation: "sws_scale", message: "frame does not fit this scaler")
        }
        var destinations: [UnsafeMutablePointer<UInt8>?] = [nil, nil, nil, nil]
        var destinationStrides: [Int32] = [0, 0, 0, 0]
        for plane in 0..<3 {
            let shift = plane == 0 ? 0 : 1
            let stride = destination.lineSize(plane)
            destinations[plane] = destination.plane(plane)! + (Int(y) >> shift) * stride + (Int(x) >> shift)
            destinationStrides[plane] = Int32(stride)
        }
        try run(source, &destinations, &destinationStrides)
    }

    /// Scales `source` into a new frame of this scaler's size and format.
    public func scale(_ source: Frame) throws -> Frame {
        let output = try Frame(width: width, height: height, format: format)
        guard accepts(source) else { throw MediaError(operation: "sws_scale", message: "frame does not fit this scaler") }
        var destinations: [UnsafeMutablePointer<UInt8>?] = (0..<4).map { output.plane($0) }
        var destinationStrides: [Int32] = (0..<4).map { Int32(output.lineSize($0)) }
        try run(source, &destinations, &destinationStrides)
        output.pts = source.pts
        return output
    }

    private func run(_ source: Frame, _ destinations: inout [UnsafeMutablePointer<UInt8>?], _ destinationStrides: inout [Int32]) throws {
        var sources: [UnsafePointer<UInt8>?] = (0..<4).map { UnsafePointer(source.plane($0)) }
        var sourceStrides: [Int32] = (0..<4).map { Int32(source.lineSize($0)) }
        let rows = sws_scale(context, &sources, &sourceStrides, 0, source.height, &destinations, &destinationStrides)
        if rows < 0 { throw MediaError(operation: "sws_scale", code: rows) }
    }
}
