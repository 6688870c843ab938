import Foundation
import Media

/// Demuxes and decodes a media file end to end with the project's FFmpeg wrappers, counting frames.
struct MediaCheck {
    /// Decoded video frames and audio frames.
    var videoFrames = 0
    var audioFrames = 0
    /// The end of the last packet read, in seconds from the file's start.
    var end = 0.0
    /// What went wrong, first failure only (reading stops there).
    var failure: String?

    /// Reads and decodes every audio and video packet of the file at `path`.
    init(path: String) {
        let demuxer: Demuxer
        do { demuxer = try Demuxer(path: path) } catch {
            failure = "does not demux: \(error)"
            return
        }
        var decoders: [Int: Decoder] = [:]
        for stream in demuxer.streams where stream.kind != nil {
            do { decoders[stream.index] = try demuxer.makeDecoder(stream: stream.index) } catch {
                failure = "stream \(stream.index) (\(stream.codecName)) cannot be decoded: \(error)"
                return
            }
        }
        guard !decoders.isEmpty else {
            failure = "no audio or video stream"
            return
        }
        let start = demuxer.streams.filter { $0.kind != nil }.map(\.startTime).min() ?? 0
        do {
            while let packet = try nextPacket(demuxer) {
                guard let decoder = decoders[packet.streamIndex] else { continue }
                let stream = demuxer.streams[packet.streamIndex]
                let time = Double(packet.pts ?? packet.dts ?? 0) * stream.timeBase - start
                do { count(try decoder.decode(packet), decoder.kind) } catch {
                    failure = "decode failure at t=\(Self.seconds(time)): \(error)"
                    return
                }
                end = max(end, time + Double(max(0, packet.duration)) * stream.timeBase)
            }
            for decoder in decoders.values { count(try decoder.flush(), decoder.kind) }
        } catch {
            failure = "decode failure at t=\(Self.seconds(end)): \(error)"
        }
    }

    private func nextPacket(_ demuxer: Demuxer) throws -> Packet? {
        do { return try demuxer.read() } catch {
            throw MediaError(operation: "reading the file (truncated or damaged?)", message: "\(error)")
        }
    }

    private mutating func count(_ frames: [Frame], _ kind: MediaKind) {
        if kind == .video { videoFrames += frames.count } else { audioFrames += frames.count }
    }

    static func seconds(_ value: Double) -> String { String(format: "%.2fs", value) }
}
