import Foundation
import Logging
import Media

/// What an offline composition produced.
public struct ComposeResult: Sendable {
    public var output: String
    /// Seconds of media written.
    public var duration: Double
    public var errors: RecordingErrorCounts
}

/// Offline composition: each input file is one participant (its best video and audio streams), all
/// composited and mixed by the same pipeline as live recordings into the same kind of file.
public enum Composer {
    /// Placeholder colours for inputs without video, in input order.
    public static let palette: [RGB] = ["red", "blue", "green", "orange", "purple", "teal", "pink", "yellow"].map { RGB(parsing: $0)! }

    private final class Input {
        let demuxer: Demuxer
        let id: String
        var tracks: [Int: String] = [:]  // stream index → track ID
        let start: Double
        var readUpTo = -Double.infinity
        var end = 0.0
        var ended = false

        init(path: String, id: String) throws {
            let demuxer = try Demuxer(path: path)
            self.demuxer = demuxer
            self.id = id
            let chosen = [MediaKind.video, .audio].compactMap { demuxer.bestStream($0) }
            start = chosen.map { demuxer.streams[$0].startTime }.min() ?? 0
        }
    }

    /// Composes `inputs` into `output` (fragmented MP4, H.264 + AAC).
    /// - Parameter realTime: pace the work at real time (to act like a live recording; tests use it).
    @discardableResult
    public static func compose(
        inputs paths: [String], output: String, layout: Layout = .grid, width: Int32 = 1280, height: Int32 = 720,
        fps: Int32 = 30, preset: String = "veryfast", crf: Int = 23, realTime: Bool = false, logger: Logger
    ) throws -> ComposeResult {
        guard !paths.isEmpty else { throw MediaError(operation: "compose", message: "no inputs") }
        let settings = OutputSettings(width: width, height: height, fps: fps, layout: layout, preset: preset, crf: crf)
        let pipeline = try SessionPipeline(settings: settings, writer: try RecordingWriter(path: output, settings: settings), logger: logger)
        var inputs: [Input] = []
        for (index, path) in paths.enumerated() {
            let input = try Input(path: path, id: "p\(index + 1)")
            pipeline.join(id: input.id, color: palette[index % palette.count], at: 0)
            for kind in [MediaKind.video, .audio] {
                guard let stream = input.demuxer.bestStream(kind) else { continue }
                do {
                    // Offline, threaded decoding keeps the encoder busy (live recordings decode on one thread each).
                    let decoder = try input.demuxer.makeDecoder(stream: stream, threads: 0)
                    pipeline.addTrack(participant: input.id, track: kind.rawValue, kind: kind, decoder: decoder, timeBase: input.demuxer.streams[stream].timeBase)
                    input.tracks[stream] = kind.rawValue
                } catch {
                    logger.error("\(path): cannot decode its \(kind) (\(input.demuxer.streams[stream].codecName)): \(error)")
                    pipeline.countError(\.undecodableTracks)
                }
            }
            inputs.append(input)
            logger.info("input \(input.id): \(path)")
        }
        let pacer = realTime ? Pacer() : nil
        let readAhead = SessionPipeline.videoLookahead + 0.25
        while true {
            let target = pipeline.nextOutputTime
            for input in inputs where !input.ended {
                while !input.ended && input.readUpTo < target + readAhead { try read(input, into: pipeline) }
            }
            if inputs.allSatisfy(\.ended) { break }
            pacer?.wait(untilMediaTime: target)
            try pipeline.render(upTo: target)
        }
        let end = inputs.map(\.end).max() ?? 0
        try pipeline.finish(at: end)
        logger.info("composed \(String(format: "%.2f", pipeline.writtenDuration)) s into \(output)")
        return ComposeResult(output: output, duration: pipeline.writtenDuration, errors: pipeline.errors)
    }

    private static func read(_ input: Input, into pipeline: SessionPipeline) throws {
        guard let packet = try input.demuxer.read() else {
            input.ended = true
            return
        }
        guard let track = input.tracks[packet.streamIndex], let ticks = packet.pts ?? packet.dts else { return }
        let tb = input.demuxer.streams[packet.streamIndex].timeBase
        let time = Double(ticks) * tb - input.start
        input.readUpTo = max(input.readUpTo, Double(packet.dts ?? ticks) * tb - input.start)
        input.end = max(input.end, time + Double(max(0, packet.duration)) * tb)
        pipeline.push(packet, participant: input.id, track: track, placed: time)
    }
}
