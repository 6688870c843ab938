import Foundation
import Logging
import Media

/// Problems met while recording, by kind. Each bad input is counted and dropped; recording goes on.
public struct RecordingErrorCounts: Sendable, Codable, Equatable {
    /// One line per kind of error that happened, for the manifest's `problems`.
    public var summaries: [String] {
        [(droppedQueueFull, "packets dropped because the recorder fell behind"),
         (malformedPackets, "malformed packets dropped"),
         (decodeErrors, "packets the decoder rejected"),
         (unknownTrack, "packets or announcements for an unknown participant or track"),
         (latePackets, "packets that arrived too late to be placed"),
         (resyncs, "timestamp jumps re-anchored on the session clock"),
         (undecodableTracks, "tracks that could not be decoded at all"),
         (invalidTimestamps, "decoded frames whose timestamps could not be placed on the session clock"),
         (picturesDropped, "composite pictures left out because the recorder fell behind (the timeline kept)"),
         (resampleErrors, "audio frames the resampler rejected"),
         (writeErrors, "failures writing the recording"),
         (keptTrackErrors, "failures writing the kept original tracks")]
            .filter { $0.0 > 0 }.map { "\($0.0) \($0.1)" }
    }

    /// Packets dropped because the recorder's input queue was full (the recorder fell behind).
    public var droppedQueueFull = 0
    /// Packets that failed the structural checks (empty, oversized, not H.264/Opus-shaped, no timestamp).
    public var malformedPackets = 0
    /// Packets the decoder rejected.
    public var decodeErrors = 0
    /// Packets or announcements for a participant or track the recorder does not know.
    public var unknownTrack = 0
    /// Packets that arrived after their time had been written.
    public var latePackets = 0
    /// Tracks whose timestamps jumped, re-anchored on the session clock.
    public var resyncs = 0
    /// Tracks the recorder could not decode at all (bad parameters, unsupported codec).
    public var undecodableTracks = 0
    /// Decoded frames whose timestamps lie outside any session (not finite, or beyond ``SessionPipeline``'s limit).
    public var invalidTimestamps = 0
    /// Audio frames the resampler could not convert (odd sample formats or layouts).
    public var resampleErrors = 0
    /// Composite pictures left out (recordings made before the originals, whose live composite caught up
    /// that way; now a composite that falls behind is rendered after instead, whole).
    public var picturesDropped = 0
    /// Failures writing the recording (disk full...); after one, the composite stops but the manifest is kept.
    public var writeErrors = 0
    /// Failures writing the per-participant original tracks.
    public var keptTrackErrors = 0

    public init() {}

    private enum CodingKeys: String, CodingKey {
        case droppedQueueFull, malformedPackets, decodeErrors, unknownTrack, latePackets, resyncs, undecodableTracks
        case invalidTimestamps, resampleErrors, picturesDropped, writeErrors, keptTrackErrors
    }

    /// A count missing from a manifest (one written before it existed) is zero.
    public init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func count(_ key: CodingKeys) throws -> Int { try c.decodeIfPresent(Int.self, forKey: key) ?? 0 }
        droppedQueueFull = try count(.droppedQueueFull)
        malformedPackets = try count(.malformedPackets)
        decodeErrors = try count(.decodeErrors)
        unknownTrack = try count(.unknownTrack)
        latePackets = try count(.latePackets)
        resyncs = try count(.resyncs)
        undecodableTracks = try count(.undecodableTracks)
        invalidTimestamps = try count(.invalidTimestamps)
        resampleErrors = try count(.resampleErrors)
        picturesDropped = try count(.picturesDropped)
        writeErrors = try count(.writeErrors)
        keptTrackErrors = try count(.keptTrackErrors)
    }

    /// The sum of all counts.
    public var total: Int {
        droppedQueueFull + malformedPackets + decodeErrors + unknownTrack + latePackets + resyncs + undecodableTracks
            + invalidTimestamps + resampleErrors + picturesDropped + writeErrors + keptTrackErrors
    }
}

/// Something the pipeline noticed that its owner may want to record or act on.
enum PipelineEvent {
    case layoutChanged(time: Double, layout: Layout, tiles: [Tile])
    case loudestChanged(time: Double, loudest: String, ranking: [String])
    /// A decoder lost its footing: ask the publisher for a keyframe.
    case keyframeNeeded(participant: String, track: String)
}

/// The recording pipeline shared by live recordings and offline composition: places every track's packets
/// on one session clock, decodes them when their time comes, composites video, mixes audio, and hands the
/// result to a ``RecordingWriter``. Single-threaded: its owner calls it from one thread.
final class SessionPipeline {
    /// Video packets skipped while a track waited for a keyframe (joining mid-stream is normal, not an error).
    private(set) var skippedBeforeKeyframe = 0
    private final class Track {
        let id: String
        let kind: MediaKind
        let decoder: Decoder
        let timeBase: Double
        /// Where the latest packet's timestamp lies on the session clock: maps the track's ticks.
        var anchor: (ticks: Int64, time: Double)?
        /// Packets waiting for their time, in arrival (decode) order, with their decode-order time.
        var packets: [(packet: Packet, time: Double)] = []
        var flushed = false
        // Video: decoded pictures not yet due, and the one on screen.
        var pending: [(frame: Frame, time: Double)] = []
        var current: Frame?
        /// A video decoder can start (or restart after a loss) only at a keyframe: what comes before is skipped.
        var awaitingKeyframe = true
        var generation = 0
        // Audio.
        let resampler = Resampler(sampleRate: OutputSettings.sampleRate, channels: 1)
        var nextSample: Int64?

        init(id: String, kind: MediaKind, decoder: Decoder, timeBase: Double) {
            self.id = id
            self.kind = kind
            self.decoder = decoder
            self.timeBase = timeBase
        }

        func time(_ ticks: Int64) -> Double? {
            guard let anchor else { return nil }
            return anchor.time + Double(ticks &- anchor.ticks) * timeBase
        }
    }

    /// One stay of a participant in the room: a participant who leaves and comes back gets a new one.
    private final class Participant {
        let id: String
        let color: RGB
        /// Distinguishes stays of the same participant in the mixer.
        let serial: Int
        var tracks: [Track] = []
        var active = false
        var leaving = false
        init(id: String, color: RGB, serial: Int) {
            self.id = id
            self.color = color
            self.serial = serial
        }
        var video: Track? { tracks.first { $0.kind == .video } }
        func mixerKey(_ track: Track) -> String { "\(id)#\(serial)/\(track.id)" }
    }

    private enum Change {
        case join(Participant)
        case leave(Participant)
    }

    let settings: OutputSettings
    private let writer: RecordingWriter
    private let compositor: Compositor
    private let mixer: AudioMixer
    private var speakers = SpeakerDetector()
    private let logger: Logger
    private var participants: [String: Participant] = [:]  // the latest stay of each participant
    private var order: [Participant] = []  // on screen and in the mix, in join order
    private var serials = 0
    private var changes: [(time: Double, change: Change)] = []
    private var nextFrame: Int64 = 0
    private var nextSample: Int64 = 0
    private var lastTiles: [Tile]?
    private(set) var errors = RecordingErrorCounts()
    var onEvent: (PipelineEvent) -> Void = { _ in }

    /// How far ahead of the output time packets are decoded (covers B-frame reordering).
    static let videoLookahead = 0.25
    static let audioLookahead = 0.06
    static let maximumQueuedPackets = 1200
    /// Session times beyond this many seconds (about 11 days) are garbage, not a session.
    static let maximumTime = 1e6
    static let maximumPendingFrames = 12

    init(settings: OutputSettings, writer: RecordingWriter, logger: Logger) throws {
        self.settings = settings
        self.writer = writer
        self.logger = logger
        compositor = try Compositor(width: settings.width, height: settings.height)
        mixer = AudioMixer(sampleRate: OutputSettings.sampleRate)
    }

    private var sampleRate: Double { Double(OutputSettings.sampleRate) }

    /// Output time of the next step: the next picture, or the end of the next audio block.
    var nextOutputTime: Double {
        min(Double(nextFrame) / Double(settings.fps), Double(nextSample + Int64(writer.audioBlock)) / sampleRate)
    }

    /// Session time written so far.
    var writtenDuration: Double { writer.duration }

    // MARK: Membership and input

    /// A participant appears in the layout and the mix from session time `time`.
    func join(id: String, color: RGB, at time: Double) {
        if let current = participants[id], !current.leaving { return }
        serials += 1
        let participant = Participant(id: id, color: color, serial: serials)
        participants[id] = participant
        schedule(.join(participant), at: time)
    }

    /// A participant leaves the layout and the mix at session time `time`.
    func leave(id: String, at time: Double) {
        guard let participant = participants[id], !participant.leaving else { return }
        participant.leaving = true
        schedule(.leave(participant), at: time)
    }

    private func schedule(_ change: Change, at time: Double) {
        let index = changes.firstIndex { $0.time > time } ?? changes.endIndex
        changes.insert((time, change), at: index)
    }

    /// Adds a track to a participant (who must have joined).
    func addTrack(participant id: String, track trackID: String, kind: MediaKind, decoder: Decoder, timeBase: Double) {
        guard let participant = participants[id] else {
            errors.unknownTrack += 1
            return
        }
        participant.tracks.removeAll { $0.id == trackID }
        participant.tracks.append(Track(id: trackID, kind: kind, decoder: decoder, timeBase: timeBase))
    }

    func hasTrack(participant id: String, track trackID: String) -> Bool {
        participants[id]?.tracks.contains { $0.id == trackID } ?? false
    }

    func countError(_ keyPath: WritableKeyPath<RecordingErrorCounts, Int>) { errors[keyPath: keyPath] += 1 }

    /// Queues a packet of a track whose presentation time lies at session time `placed` (see
    /// ``SessionPlacement``); its decoding time follows from its own timestamps.
    func push(_ packet: Packet, participant id: String, track trackID: String, placed: Double) {
        guard let participant = participants[id], let track = participant.tracks.first(where: { $0.id == trackID }) else {
            errors.unknownTrack += 1
            return
        }
        guard let ticks = packet.pts ?? packet.dts, placed.isFinite, abs(placed) <= SessionPipeline.maximumTime else {
            errors.malformedPackets += 1
            return
        }
        track.anchor = (ticks, placed)
        if track.kind == .video && track.awaitingKeyframe {
            guard packet.isKeyframe else {
                skippedBeforeKeyframe += 1
                return
            }
            track.awaitingKeyframe = false
        }
        if track.packets.count >= SessionPipeline.maximumQueuedPackets {
            track.packets.removeFirst()
            errors.latePackets += 1
        }
        track.packets.append((packet, track.time(packet.dts ?? ticks) ?? placed))
    }

    // MARK: Rendering

    /// Writes every picture and audio block whose time has come by session time `time`.
    /// With `final`, also the last partial ones before `time`. Every picture is drawn: a live composite
    /// that falls behind gives up and is rendered after instead (``LiveComposite``).
    func render(upTo time: Double, final: Bool = false) throws {
        let block = writer.audioBlock
        while true {
            let videoTime = Double(nextFrame) / Double(settings.fps)
            let audioStart = Double(nextSample) / sampleRate, audioEnd = Double(nextSample + Int64(block)) / sampleRate
            let videoDue = final ? videoTime < time : videoTime <= time
            let audioDue = final ? audioStart < time : audioEnd <= time
            if !videoDue && !audioDue { return }
            if videoDue && (!audioDue || videoTime <= audioStart) {
                applyChanges(upTo: videoTime)
                try renderPicture(at: videoTime)
                nextFrame += 1
            } else {
                applyChanges(upTo: audioStart)
                try renderAudio(start: nextSample, count: block)
                nextSample += Int64(block)
            }
        }
    }

    /// Decodes what is left, writes up to `end`, and closes the file.
    func finish(at end: Double) throws {
        for participant in participants.values { for track in participant.tracks { track.flushed = true } }
        try render(upTo: end, final: true)
        try writer.finish()
    }

    private func applyChanges(upTo time: Double) {
        while let first = changes.first, first.time <= time {
            changes.removeFirst()
            switch first.change {
            case .join(let participant):
                guard !participant.active else { continue }
                participant.active = true
                order.append(participant)
            case .leave(let participant):
                order.removeAll { $0 === participant }
                if participants[participant.id] === participant { participants[participant.id] = nil }
                for track in participant.tracks where track.kind == .audio { mixer.remove(source: participant.mixerKey(track)) }
                participant.tracks.removeAll()  // frees its decoders
                if !order.contains(where: { $0.id == participant.id }) { speakers.remove(participant.id) }
            }
        }
    }

    private func renderPicture(at time: Double) throws {
        for participant in order { if let video = participant.video { advanceVideo(video, participant: participant.id, to: time) } }
        let onScreen = order.reduce(into: [String: Participant]()) { $0[$1.id] = $1 }  // a returning participant's new stay wins
        let ids = order.map(\.id).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let tiles = settings.layout.tiles(for: ids, speaker: speakers.loudest, width: compositor.width, height: compositor.height)
        if tiles != lastTiles {
            lastTiles = tiles
            onEvent(.layoutChanged(time: time, layout: settings.layout, tiles: tiles))
        }
        let picture = try compositor.render(tiles) { id in
            let participant = onScreen[id]
            let video = participant?.video
            return TileContent(frame: video?.current, generation: video?.generation ?? -1, color: participant?.color ?? Compositor.background)
        }
        try writer.write(picture: picture)
    }

    private func advanceVideo(_ track: Track, participant: String, to time: Double) {
        while let head = track.packets.first, head.time <= time + SessionPipeline.videoLookahead {
            track.packets.removeFirst()
            decode(head.packet, track, participant, fallbackTime: head.time) { frame, frameTime in track.pending.append((frame, frameTime)) }
        }
        if track.packets.isEmpty && track.flushed {
            track.flushed = false
            if let frames = try? track.decoder.flush() {
                for frame in frames { track.pending.append((frame, frame.pts.flatMap(track.time) ?? time)) }
            }
        }
        if let due = track.pending.lastIndex(where: { $0.time <= time }) {
            track.current = track.pending[due].frame
            track.generation += 1
            track.pending.removeSubrange(...due)
        }
        if track.pending.count > SessionPipeline.maximumPendingFrames {  // timestamps far ahead: show rather than hoard
            track.current = track.pending.removeFirst().frame
            track.generation += 1
        }
    }

    private func renderAudio(start: Int64, count: Int) throws {
        let end = Double(start + Int64(count)) / sampleRate
        var owners: [String: String] = [:]  // mixer key → participant
        for participant in order {
            for track in participant.tracks where track.kind == .audio {
                owners[participant.mixerKey(track)] = participant.id
                advanceAudio(track, key: participant.mixerKey(track), participant: participant.id, to: end)
            }
        }
        let (samples, levels) = mixer.mix(start: start, count: count)
        var byParticipant: [String: Double] = [:]
        for (key, level) in levels {
            guard let id = owners[key] else { continue }
            byParticipant[id] = max(byParticipant[id] ?? 0, level)
        }
        let time = Double(start) / sampleRate
        if let (loudest, ranking) = speakers.update(levels: byParticipant, time: time) {
            onEvent(.loudestChanged(time: time, loudest: loudest, ranking: ranking))
        }
        try writer.write(samples: samples)
    }

    private func advanceAudio(_ track: Track, key: String, participant: String, to time: Double) {
        func place(_ frame: Frame, _ frameTime: Double) {
            // Untrusted timestamps (a time base of 1/1 with a huge pts, say) must not trap the conversion.
            guard frameTime.isFinite, abs(frameTime) <= SessionPipeline.maximumTime else {
                errors.invalidTimestamps += 1
                return
            }
            let samples: [Float]
            do { samples = try track.resampler.convert(frame) } catch {
                errors.resampleErrors += 1
                return
            }
            guard !samples.isEmpty else { return }
            var position = Int64((frameTime * sampleRate).rounded())
            // Keep contiguous audio contiguous: timestamp rounding must not click.
            if let expected = track.nextSample, abs(position - expected) <= 960 { position = expected }
            track.nextSample = position + Int64(samples.count)
            if mixer.write(samples, source: key, at: position) == samples.count { errors.latePackets += 1 }
        }
        while let head = track.packets.first, head.time < time + SessionPipeline.audioLookahead {
            track.packets.removeFirst()
            decode(head.packet, track, participant, fallbackTime: head.time, place)
        }
        if track.packets.isEmpty && track.flushed {
            track.flushed = false
            for frame in (try? track.decoder.flush()) ?? [] { place(frame, frame.pts.flatMap(track.time) ?? time) }
        }
    }

    private func decode(_ packet: Packet, _ track: Track, _ participant: String, fallbackTime: Double, _ deliver: (Frame, Double) -> Void) {
        do {
            for frame in try track.decoder.decode(packet) { deliver(frame, frame.pts.flatMap(track.time) ?? fallbackTime) }
        } catch {
            errors.decodeErrors += 1
            if errors.decodeErrors <= 10 { logger.warning("dropped a packet of \(participant)/\(track.id): \(error)") }
            if track.kind == .video { track.awaitingKeyframe = true }
            onEvent(.keyframeNeeded(participant: participant, track: track.id))
        }
    }
}
