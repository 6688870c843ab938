import CFFmpeg

/// An FFmpeg call that failed: which operation, its AVERROR code, and FFmpeg's own text for it.
public struct MediaError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The operation that failed, e.g. `"avcodec_open2(libx264)"`.
    public var operation: String
    /// The AVERROR code (negative), or 0 when the failure did not come from FFmpeg.
    public var code: Int32
    /// `av_strerror` text for `code`, or our own explanation.
    public var message: String

    public init(operation: String, code: Int32) {
        self.operation = operation
        self.code = code
        self.message = MediaError.describe(code)
    }

    public init(operation: String, message: String) {
        self.operation = operation
        self.code = 0
        self.message = message
    }

    public var description: String { "\(operation) failed: \(message) (\(code))" }

    /// FFmpeg's text for an AVERROR code.
    public static func describe(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        if av_strerror(code, &buffer, buffer.count) < 0 { return "unknown error \(code)" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// True when `code` means "end of stream".
    public var isEndOfFile: Bool { code == ctlive_averror_eof() }
}

/// Returns `code` when it is not an error, throws a ``MediaError`` naming `operation` otherwise.
@discardableResult
func check(_ code: Int32, _ operation: @autoclosure () -> String) throws -> Int32 {
    if code < 0 { throw MediaError(operation: operation(), code: code) }
    return code
}

let averrorEOF = ctlive_averror_eof()
let averrorEAGAIN = ctlive_averror_eagain()
let noPTS = ctlive_av_nopts_value()
