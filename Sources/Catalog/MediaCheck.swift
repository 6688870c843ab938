import Foundation
import Media
import Recorder

/// Demuxes and decodes a media file end to end with the project's FFmpeg wrappers, counting frames.
struct MediaCheck {
    /// Decoded video frames and audio frames.
    var videoFrames = 0
    var audioFrames = 0
    /// The end of the last packet read, in seconds from the file's start.
    var end = 0.0
    /// What went wrong, first failure only (reading stops there).
    var failure: String?

    /// Reads and decodes every audio and video packet of the file at `path` (originals or any container FFmpeg reads).
    init(path: String) {
        if let handle = FileHandle(forReadingAtPath: path), let head = try? handle.read(upToCount: 4), Array(head) == Array(OriginalsFile.magic.prefix(4)) {
            self = Self.originals(path)
            return
        }
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

    /// Reads every record of an originals file and decodes every packet of every track.
    private init() {}

    private static func originals(_ path: String) -> MediaCheck {
        var check = MediaCheck()
        do {
            let reader = try OriginalsReader(path: path)
            var decoders: [Int: Decoder] = [:]
            var started: Set<Int> = []  // video tracks that reached a keyframe: a decoder cannot start before one
            while let record = try reader.next() {
                switch record {
                case .track(let track):
                    do { decoders[track.number] = try Decoder(parameters: track.parameters) } catch {
                        check.failure = "track \(track.number) (\(track.participant)/\(track.track)) cannot be decoded: \(error)"
                        return check
                    }
                case .packet(let kept):
                    guard let decoder = decoders[kept.track] else {
                        check.failure = "a packet of track \(kept.track), never announced, at byte \(reader.offset)"
                        return check
                    }
                    // A video decoder joining mid-stream refuses what precedes a keyframe: the record keeps it anyway.
                    if decoder.kind == .video && !started.contains(kept.track) {
                        guard kept.packet.isKeyframe else { continue }
                        started.insert(kept.track)
                    }
                    if let frames = try? decoder.decode(try Packet(kept.packet)) { check.count(frames, decoder.kind) }
                    check.end = max(check.end, kept.placed)
                case .end(let marker): check.end = max(check.end, marker.time)
                case .membership(let membership): check.end = max(check.end, membership.time)
                case .header: break
                }
            }
            if reader.truncated { check.failure = "truncated: the last record is cut short at byte \(reader.offset)" }
            for decoder in decoders.values { check.count((try? decoder.flush()) ?? [], decoder.kind) }
        } catch {
            check.failure = "\(error)"
        }
        return check
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
