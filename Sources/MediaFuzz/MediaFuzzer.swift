import Foundation
import Logging
import Media
import Recorder

/// A seeded, reproducible fuzzer of the recorder's input path.
///
/// Each *session* is a real ``LiveRecording`` on a manual clock (a real x264 encoder and MP4 writer,
/// small and fast) fed what a hostile room member can send: track announcements with mutated time
/// bases, sizes, rates and extradata, and packet sequences with mutated timestamps and durations whose
/// payloads are real H.264, Opus and AAC packets, truncated, bit-flipped, swapped or replaced by
/// noise. A session's inputs depend only on the run's seed and the session's index, so any session
/// can be replayed alone.
///
/// What it checks: the process survives (a crash is found by the caller, which runs sessions in a
/// child process), and the recording's timeline is never longer than the session.
public struct MediaFuzzer {
    /// Real encoded packets to mutate: one source per codec.
    public struct Corpus: Sendable {
        public var tracks: [(parameters: TrackParameters, packets: [EncodedPacket])]

        /// Two seconds of a moving test picture (H.264), a tone (Opus) and a tone (AAC).
        public static func make() throws -> Corpus {
            let source = try TestSource(color: RGB(red: 200, green: 60, blue: 40), toneHz: 440, width: 160, height: 96, fps: 15, durationSeconds: 2)
            var byTrack = source.tracks.map { ($0, [EncodedPacket]()) }
            while let (index, packet) = try source.nextPacket() { byTrack[index].1.append(packet) }
            let aac = try Encoder(audio: AudioEncoderSettings(codec: .aac))
            var aacPackets: [EncodedPacket] = []
            let tone = (0..<96_000).map { Float(sin(Double($0) * 2 * .pi * 660 / 48_000) * 0.3) }
            aacPackets += try aac.encode(monoSamples: tone).map(\.encoded)
            aacPackets += try aac.finishAudio().map(\.encoded)
            byTrack.append((aac.parameters, aacPackets))
            return Corpus(tracks: byTrack.filter { !$0.1.isEmpty })
        }
    }

    /// What one session did.
    public struct SessionReport: Sendable {
        public var index: Int
        public var inputs: Int
        /// Session time from the first join to the finish.
        public var sessionSeconds: Double
        /// The recording's duration.
        public var recordedSeconds: Double
        public var errors: RecordingErrorCounts
        /// Whether the timeline ran longer than the session (more than one picture).
        public var overran: Bool { recordedSeconds > sessionSeconds + 0.15 }
    }

    public let seed: UInt64
    public let corpus: Corpus
    public let root: String
    private let logger: Logger

    /// - Parameters:
    ///   - root: where the sessions' recordings go (each is removed after its session).
    public init(seed: UInt64, corpus: Corpus, root: String, logger: Logger) {
        self.seed = seed
        self.corpus = corpus
        self.root = root
        self.logger = logger
    }

    /// Runs session `index` with `inputs` inputs and returns what it recorded.
    public func runSession(_ index: Int, inputs: Int) throws -> SessionReport {
        var random = SplitMix64(seed: seed &+ UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15)
        var configuration = RecordingConfiguration(root: root, sessionID: "fuzz-\(seed)-\(index)", contactID: "fuzz", layout: .grid)
        (configuration.width, configuration.height, configuration.fps) = (160, 96, 10)
        configuration.preset = "ultrafast"
        configuration.queueCapacity = 1_000_000
        let clock = ManualSessionClock()
        let recording = try LiveRecording(configuration: configuration, clock: clock, logger: logger)
        defer { try? FileManager.default.removeItem(atPath: recording.directory) }

        var session = Session(recording: recording, corpus: corpus)
        let participants = Int(random.next(below: 3)) + 1
        for p in 0..<participants {
            session.join("p\(p)")
            for _ in 0..<(Int(random.next(below: 3)) + 1) { session.announce("p\(p)", &random) }
        }
        // About 300 inputs per second of session, a few seconds at most.
        var time = 0.0
        for input in 0..<inputs {
            if random.chance(0.01) {
                session.control(&random)
            } else {
                session.packet(&random)
            }
            if input % 30 == 29 {
                time += 0.1
                clock.set(time)
            }
            if input % 200 == 199 { recording.waitForWorker() }
        }
        time += 0.5
        clock.set(time)
        let result = try recording.finish()
        return SessionReport(index: index, inputs: inputs, sessionSeconds: time, recordedSeconds: result.duration, errors: result.errors)
    }
}

/// The room as the fuzzer plays it: who is in, their tracks and where each track's timestamps are.
private struct Session {
    struct Track {
        var participant: String
        var id: String
        var corpus: Int
        var cursor = 0
        /// Added to the corpus packet's timestamps (the corpus loops).
        var offset: Int64 = 0
    }

    let recording: LiveRecording
    let corpus: MediaFuzzer.Corpus
    var tracks: [Track] = []
    var present: Set<String> = []
    var trackCounter = 0

    init(recording: LiveRecording, corpus: MediaFuzzer.Corpus) {
        self.recording = recording
        self.corpus = corpus
    }

    mutating func join(_ id: String) {
        recording.participantJoined(id: id, name: id, role: "customer", colorHint: nil)
        present.insert(id)
    }

    /// A new track of `participant`, often with parameters that do not match its packets.
    mutating func announce(_ participant: String, _ random: inout SplitMix64) {
        let source = Int(random.next(below: UInt64(corpus.tracks.count)))
        var parameters = corpus.tracks[source].parameters
        if random.chance(0.3) { mutate(&parameters, &random) }
        trackCounter += 1
        let id = "t\(trackCounter)"
        recording.trackAnnounced(participantID: participant, trackID: id, parameters: parameters)
        tracks.append(Track(participant: participant, id: id, corpus: source))
    }

    private func mutate(_ p: inout TrackParameters, _ random: inout SplitMix64) {
        let timeBases: [(Int32, Int32)] = [(1, 1), (1, 90_000), (1, 48_000), (Int32.max, 1), (1, Int32.max), (1001, 30_000), (7, 3)]
        switch random.next(below: 7) {
        case 0: (p.timeBaseNum, p.timeBaseDen) = timeBases[Int(random.next(below: UInt64(timeBases.count)))]
        case 1: (p.width, p.height) = (Int32(random.next(below: 8193)), Int32(random.next(below: 8193)))
        case 2: p.sampleRate = [0, 1, 8_000, 44_100, 48_000, 384_000][Int(random.next(below: 6))]
        case 3: p.channels = Int32(random.next(below: 9))
        case 4: p.extradata = random.bytes(Int(random.next(below: 256)))
        case 5: p.extradata = mutateBytes(p.extradata, &random)
        default: p.codec = [MediaCodec.h264, .opus, .aac][Int(random.next(below: 3))]
        }
    }

    /// Leaving and coming back, announcing over a track, strangers' packets.
    mutating func control(_ random: inout SplitMix64) {
        let participant = "p\(random.next(below: 3))"
        switch random.next(below: 4) {
        case 0 where present.contains(participant):
            recording.participantLeft(id: participant)
            present.remove(participant)
        case 1 where !present.contains(participant):
            join(participant)
        case 2 where present.contains(participant):
            announce(participant, &random)
        default:
            let noise = EncodedPacket(data: random.bytes(64), pts: 0, dts: 0, duration: 1, isKeyframe: true)
            recording.receive(participantID: "stranger", trackID: "t1", packet: noise)
        }
    }

    /// One packet on a track: the next real packet of its corpus, perhaps mutated.
    mutating func packet(_ random: inout SplitMix64) {
        guard !tracks.isEmpty else { return }
        let index = Int(random.next(below: UInt64(tracks.count)))
        var track = tracks[index]
        let packets = corpus.tracks[track.corpus].packets
        if track.cursor == packets.count {
            // Loop the corpus, carrying the timestamps on.
            track.cursor = 0
            track.offset += (packets.last!.pts - packets[0].pts) + max(1, packets.last!.duration)
        }
        var packet = packets[track.cursor]
        track.cursor += 1
        packet.pts = packet.pts &+ track.offset
        packet.dts = packet.dts &+ track.offset
        tracks[index] = track

        if random.chance(0.15) { mutateTimestamps(&packet, &random) }
        if random.chance(0.3) { packet.data = mutatePayload(packet.data, &random) }
        if random.chance(0.05) { packet.isKeyframe.toggle() }
        recording.receive(participantID: track.participant, trackID: track.id, packet: packet)
    }

    private func mutateTimestamps(_ packet: inout EncodedPacket, _ random: inout SplitMix64) {
        let extremes: [Int64] = [.max, .min, 0, -1, .max / 2, .min / 2, 1 << 53]
        switch random.next(below: 6) {
        case 0:  // a jump of up to ±100 s in 90 kHz ticks (or in whatever the track's time base is)
            let jump = Int64(random.next(below: 18_000_000)) - 9_000_000
            packet.pts = packet.pts &+ jump
            packet.dts = packet.dts &+ jump
        case 1: packet.pts = extremes[Int(random.next(below: UInt64(extremes.count)))]
        case 2: packet.dts = extremes[Int(random.next(below: UInt64(extremes.count)))]
        case 3: packet.duration = extremes[Int(random.next(below: UInt64(extremes.count)))]
        case 4: (packet.pts, packet.dts) = (packet.dts, packet.pts &+ Int64(random.next(below: 10_000)))
        default:
            let value = Int64(bitPattern: random.next())
            (packet.pts, packet.dts, packet.duration) = (value, value, Int64(bitPattern: random.next()))
        }
    }

    private func mutatePayload(_ data: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
        switch random.next(below: 6) {
        case 0: return Array(data.prefix(Int(random.next(below: UInt64(data.count + 1)))))
        case 1: return []
        case 2: return random.bytes(Int(random.next(below: 4096)))
        case 3:  // another codec's packet
            let other = corpus.tracks[Int(random.next(below: UInt64(corpus.tracks.count)))].packets
            return other[Int(random.next(below: UInt64(other.count)))].data
        case 4: return data + data
        default: return mutateBytes(data, &random)
        }
    }

    private func mutateBytes(_ data: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
        guard !data.isEmpty else { return random.bytes(8) }
        var out = data
        for _ in 0...random.next(below: 8) {
            let at = Int(random.next(below: UInt64(out.count)))
            out[at] ^= UInt8(1) << UInt8(random.next(below: 8))
        }
        return out
    }
}

/// SplitMix64: small, fast, and the same sequence for the same seed on every machine.
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<bound (bound > 0).
    mutating func next(below bound: UInt64) -> UInt64 { next() % bound }

    mutating func chance(_ probability: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < probability }

    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) } }
}
