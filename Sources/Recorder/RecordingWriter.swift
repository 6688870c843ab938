import Logging
import Media

/// Output settings shared by live recordings and offline composition.
public struct OutputSettings: Sendable {
    public var width: Int32 = 1280
    public var height: Int32 = 720
    public var fps: Int32 = 30
    public var layout: Layout = .grid
    /// libx264 preset and constant rate factor of the composite.
    public var preset: String = "veryfast"
    public var crf: Int = 23
    public var audioBitRate: Int = 96000
    /// libx264 threads; 0 lets x264 choose.
    public var encoderThreads: Int32 = 0
    /// libx264 tune (`zerolatency`: no B-frames and no lookahead, so fewer pictures held in memory).
    public var tune: String?
    /// No version strings or times in the file: the same pictures and sound give the same bytes.
    public var bitExact = false

    public init(width: Int32 = 1280, height: Int32 = 720, fps: Int32 = 30, layout: Layout = .grid, preset: String = "veryfast", crf: Int = 23) {
        self.width = width
        self.height = height
        self.fps = fps
        self.layout = layout
        self.preset = preset
        self.crf = crf
    }

    static let sampleRate: Int32 = 48000
}

/// Encodes the composite (H.264) and the mix (AAC, 48 kHz mono) into a fragmented MP4 that is playable
/// while it is written and after a crash: fragments of at most one second, flushed as they close.
final class RecordingWriter {
    private let muxer: Muxer
    private let video: Encoder
    private let audio: Encoder
    private let videoStream: Int, audioStream: Int
    private var framesWritten: Int64 = 0
    private(set) var samplesWritten: Int64 = 0
    let path: String
    let fps: Int32

    init(path: String, settings: OutputSettings) throws {
        self.path = path
        fps = settings.fps
        muxer = try Muxer(path: path, format: "mp4")
        var videoSettings = VideoEncoderSettings(width: settings.width & ~1, height: settings.height & ~1, fps: settings.fps)
        videoSettings.preset = settings.preset
        videoSettings.crf = settings.crf
        videoSettings.globalHeader = true
        videoSettings.threads = settings.encoderThreads
        videoSettings.tune = settings.tune
        videoSettings.bitExact = settings.bitExact
        video = try Encoder(video: videoSettings)
        var audioSettings = AudioEncoderSettings(codec: .aac, sampleRate: OutputSettings.sampleRate, channels: 1, bitRate: settings.audioBitRate)
        audioSettings.globalHeader = true
        audioSettings.bitExact = settings.bitExact
        audio = try Encoder(audio: audioSettings)
        videoStream = try muxer.addStream(for: video)
        audioStream = try muxer.addStream(for: audio)
        var options = Muxer.fragmentedMP4Options
        if settings.bitExact { options["fflags"] = "+bitexact" }
        try muxer.writeHeader(options: options)
        // Fragmented MP4 has no edit list: each track's timeline starts at its first decoding time. The video's
        // starts its B-frame delay before session time zero, the audio's its priming before zero; lead the audio
        // in with silence for the difference, so session time zero is the same instant in both tracks.
        let leadIn = Int(((video.delay - audio.delay) * Double(OutputSettings.sampleRate)).rounded())
        if leadIn > 0 {
            for packet in try audio.encode(monoSamples: [Float](repeating: 0, count: leadIn)) { try muxer.write(packet, stream: audioStream) }
        }
    }

    /// Samples per AAC frame: the mix is produced in blocks of this size.
    var audioBlock: Int { Int(audio.frameSize) }

    /// Encodes the next composite picture (stamped by count, 1/fps).
    func write(picture: Frame) throws {
        picture.pts = framesWritten
        framesWritten += 1
        for packet in try video.encode(picture) { try muxer.write(packet, stream: videoStream) }
    }

    /// Encodes the next block of the mix.
    func write(samples: [Float]) throws {
        samplesWritten += Int64(samples.count)
        for packet in try audio.encode(monoSamples: samples) { try muxer.write(packet, stream: audioStream) }
    }

    /// Media written so far, in seconds.
    var duration: Double { max(Double(framesWritten) / Double(fps), Double(samplesWritten) / Double(OutputSettings.sampleRate)) }

    /// Drains the encoders and writes the trailer.
    func finish() throws {
        for packet in try video.encode(nil) { try muxer.write(packet, stream: videoStream) }
        for packet in try audio.finishAudio() { try muxer.write(packet, stream: audioStream) }
        try muxer.finish()
    }
}
