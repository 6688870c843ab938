import Digest
import Foundation
import Logging
import Media

/// How a composite is made from the originals: everything that decides its bytes besides the originals
/// and the build. Recorded in the derivation, so that anyone can render it again and compare.
public struct CompositeSettings: Codable, Sendable, Equatable {
    public var width: Int32
    public var height: Int32
    public var fps: Int32
    public var layout: Layout
    public var preset: String
    public var crf: Int
    public var tune: String?

    public init(width: Int32 = 1280, height: Int32 = 720, fps: Int32 = 30, layout: Layout = .grid, preset: String = "superfast", crf: Int = 23,
                tune: String? = "zerolatency") {
        (self.width, self.height, self.fps, self.layout, self.preset, self.crf, self.tune) = (width, height, fps, layout, preset, crf, tune)
    }

    /// The pipeline's settings. One encoder thread, always: x264's output then depends on nothing but its input.
    var output: OutputSettings {
        var settings = OutputSettings(width: width, height: height, fps: fps, layout: layout, preset: preset, crf: crf)
        settings.encoderThreads = 1
        settings.tune = tune
        settings.bitExact = true
        return settings
    }
}

/// What rendering a composite produced.
public struct CompositeResult: Sendable, Codable {
    public var path: String
    public var sha256: String
    /// Seconds of media in the composite.
    public var duration: Double
    /// Problems met while decoding and compositing (the originals are not changed by any of them).
    public var errors: RecordingErrorCounts
}

/// Renders a composite (grid or speaker layout, mixed audio) from an originals file, after the fact.
///
/// Deterministic: the same originals, settings and build give the same bytes. Each track's packets keep
/// their order; tracks are merged by their decoding time on the session clock, so a packet that arrived
/// late (a slow publisher, a stalled network) is drawn and heard where it belongs, however late.
public enum CompositeRenderer {
    /// Names what renders: a change to the compositor or the mixer that changes pictures or sound
    /// changes this, and so do FFmpeg's libraries.
    public static let version = "ctlive-renderer 1 (\(MediaLibraries.versions))"

    /// Settings as the derivation signs them: JSON with sorted keys.
    public static func canonical(_ settings: CompositeSettings) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(settings), as: UTF8.self)
    }

    private struct Entry {
        let offset: UInt64
        let time: Double  // decoding time on the session clock
    }

    private struct Stay {
        let participant: String
        let color: RGB
        let joined: Double
        var left: Double?
        var tracks: [OriginalsTrack] = []
    }

    /// Renders `originals` into `output` (which must not exist yet; written to a temporary name, then moved).
    public static func render(originals: String, output: String, settings: CompositeSettings, logger: Logger) throws -> CompositeResult {
        // Pass 1: where every packet lies, per track, in its own order; who was there when; where the part ends.
        let reader = try OriginalsReader(path: originals)
        var tracks: [Int: OriginalsTrack] = [:]
        var queues: [Int: [Entry]] = [:]
        var stays: [Stay] = []
        var open: [String: Int] = [:]  // participant → index in stays
        var end = 0.0
        var recordOffset = reader.offset
        while let record = try reader.next() {
            defer { recordOffset = reader.offset }
            switch record {
            case .header: break
            case .track(let track):
                tracks[track.number] = track
                if let index = open[track.participant] { stays[index].tracks.append(track) }
            case .membership(let membership):
                end = max(end, membership.time)
                if membership.event == "join" {
                    if open[membership.participant] != nil { continue }
                    let color = membership.color.flatMap(RGB.init(parsing:)) ?? Composer.palette[stays.count % Composer.palette.count]
                    open[membership.participant] = stays.count
                    stays.append(Stay(participant: membership.participant, color: color, joined: membership.time))
                } else if let index = open.removeValue(forKey: membership.participant) {
                    stays[index].left = membership.time
                }
            case .packet(let kept):
                guard let track = tracks[kept.track] else { continue }
                let decodeTime = kept.placed - Double(kept.packet.pts &- kept.packet.dts) * track.parameters.timeBase
                queues[kept.track, default: []].append(Entry(offset: recordOffset, time: decodeTime))
                end = max(end, kept.arrival)
            case .end(let marker):
                end = marker.time
            }
        }
        if reader.truncated { logger.info("originals \(originals) end mid-record at byte \(reader.offset): rendered up to there") }

        // Pass 2: the membership changes and every track's packets, merged by session time.
        let temporary = output + ".rendering"
        unlink(temporary)
        let writer = try RecordingWriter(path: temporary, settings: settings.output)
        let pipeline = try SessionPipeline(settings: settings.output, writer: writer, logger: logger)
        let packets = try RandomAccessReader(path: originals)
        var changes: [(time: Double, join: Bool, stay: Int)] = []
        for (index, stay) in stays.enumerated() {
            changes.append((stay.joined, true, index))
            changes.append((stay.left ?? end, false, index))
        }
        changes.sort { $0.time != $1.time ? $0.time < $1.time : ($0.join ? 1 : 0) < ($1.join ? 1 : 0) }  // a leave before a join at the same time
        var stayOfTrack: [Int: Int] = [:]
        for (index, stay) in stays.enumerated() { for track in stay.tracks { stayOfTrack[track.number] = index } }
        var heads = queues.mapValues { _ in 0 }
        var nextChange = 0
        let margin = SessionPipeline.videoLookahead + 0.1
        while true {
            // The earliest of: the next membership change, each track's next packet.
            var best: (time: Double, track: Int?)? = nextChange < changes.count ? (changes[nextChange].time, nil) : nil
            for (number, head) in heads.sorted(by: { $0.key < $1.key }) where head < queues[number]!.count {
                let time = queues[number]![head].time
                if best == nil || time < best!.time { best = (time, number) }
            }
            guard let (time, trackNumber) = best else { break }
            try pipeline.render(upTo: time - margin)
            guard let trackNumber else {
                let change = changes[nextChange]
                nextChange += 1
                let stay = stays[change.stay]
                if change.join {
                    pipeline.join(id: stay.participant, color: stay.color, at: change.time)
                    for track in stay.tracks { try addTrack(track, to: pipeline, logger: logger) }
                } else {
                    pipeline.leave(id: stay.participant, at: change.time)
                }
                continue
            }
            let entry = queues[trackNumber]![heads[trackNumber]!]
            heads[trackNumber]! += 1
            guard stayOfTrack[trackNumber] != nil, let track = tracks[trackNumber], let kept = try packets.packet(at: entry.offset) else { continue }
            pipeline.push(try Packet(kept.packet), participant: track.participant, track: track.track, placed: kept.placed)
        }
        try pipeline.finish(at: end)
        let sha = try SHA256.hex(ofFileAt: temporary)
        guard rename(temporary, output) == 0 else { throw MediaError(operation: "rename(\(output))", message: String(cString: strerror(errno))) }
        logger.info("rendered \(String(format: "%.2f", pipeline.writtenDuration)) s into \(output)")
        return CompositeResult(path: output, sha256: sha, duration: pipeline.writtenDuration, errors: pipeline.errors)
    }

    private static func addTrack(_ track: OriginalsTrack, to pipeline: SessionPipeline, logger: Logger) throws {
        do {
            let decoder = try Decoder(parameters: track.parameters)
            pipeline.addTrack(participant: track.participant, track: track.track, kind: track.parameters.kind, decoder: decoder,
                              timeBase: track.parameters.timeBase)
        } catch {
            logger.warning("track \(track.participant)/\(track.track) cannot be decoded: \(error)")
            pipeline.countError(\.undecodableTracks)
        }
    }
}

/// Reads single packet records of an originals file by offset (the renderer's second pass).
final class RandomAccessReader {
    private let descriptor: Int32
    private let path: String

    init(path: String) throws {
        self.path = path
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw MediaError(operation: "open(\(path))", message: String(cString: strerror(errno))) }
    }

    deinit { close(descriptor) }

    /// The packet record at `offset` (found by a first pass), or nil when the record there is another kind.
    func packet(at offset: UInt64) throws -> OriginalsPacket? {
        var head = [UInt8](repeating: 0, count: 5)
        try read(&head, at: offset)
        guard head[0] == OriginalsFile.RecordType.packet.rawValue else { return nil }
        let length = Int(head[1...4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        guard length >= OriginalsFile.packetHeaderBytes, length <= OriginalsFile.maximumRecordBytes else {
            throw MediaError(operation: "read(\(path))", message: "damaged originals at byte \(offset)")
        }
        var body = [UInt8](repeating: 0, count: length)
        try read(&body, at: offset + 5)
        return OriginalsReader.decodePacket(body)
    }

    private func read(_ buffer: inout [UInt8], at offset: UInt64) throws {
        let count = buffer.count
        let n = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, count, off_t(offset)) }
        guard n == count else { throw MediaError(operation: "pread(\(path))", message: n < 0 ? String(cString: strerror(errno)) : "the file ends early") }
    }
}
