import CFFmpeg
import Foundation

/// One owned still-image encoding `AVCodecContext` (FFmpeg's `png` encoder): turns RGB pictures into
/// image files. Freed in `deinit`.
public final class ImageEncoder {
    private let context: UnsafeMutablePointer<AVCodecContext>
    /// The size of the pictures it takes.
    public let width: Int32, height: Int32

    /// A PNG encoder for `width`x`height` pictures in ``PixelFormat/rgb24``.
    public init(pngWidth width: Int32, height: Int32) throws {
        FFmpegLog.applyDefault()
        guard width > 0, height > 0 else {
            throw MediaError(operation: "png encoder", message: "invalid size \(width)x\(height)")
        }
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_PNG) else {
            throw MediaError(operation: "avcodec_find_encoder", message: "the png encoder is not available")
        }
        guard let context = avcodec_alloc_context3(codec) else { fatalError("avcodec_alloc_context3: out of memory") }
        self.context = context
        self.width = width
        self.height = height
        context.pointee.width = width
        context.pointee.height = height
        context.pointee.pix_fmt = PixelFormat.rgb24.avFormat
        context.pointee.time_base = AVRational(num: 1, den: 1)
        try check(avcodec_open2(context, codec, nil), "avcodec_open2(png)")
    }

    deinit {
        var context: UnsafeMutablePointer<AVCodecContext>? = context
        avcodec_free_context(&context)
    }

    /// Encodes one RGB picture of this encoder's size into the bytes of one image file.
    public func encode(_ picture: Frame) throws -> Data {
        guard picture.width == width, picture.height == height, picture.format == PixelFormat.rgb24.avFormat.rawValue else {
            throw MediaError(operation: "png encode", message: "expected a \(width)x\(height) rgb24 picture")
        }
        picture.pts = 0
        try check(avcodec_send_frame(context, picture.pointer), "avcodec_send_frame(png)")
        let packet = Packet()
        try check(avcodec_receive_packet(context, packet.pointer), "avcodec_receive_packet(png)")
        return packet.withBytes { Data($0) }
    }

    /// Encodes `picture` (any format and size FFmpeg can convert) to a PNG file at `path`, converting it to RGB first.
    public static func writePNG(_ picture: Frame, to path: String) throws {
        let rgb = try Scaler(like: picture, width: picture.width, height: picture.height, format: .rgb24).scale(picture)
        let data = try ImageEncoder(pngWidth: picture.width, height: picture.height).encode(rgb)
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw MediaError(operation: "write \(path)", message: "\(error)")
        }
    }
}
