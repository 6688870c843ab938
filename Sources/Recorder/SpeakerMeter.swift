import Media

/// Who is speaking, from each participant's decoded sound, as it arrives.
///
/// Audio (Opus, AAC) is cheap to decode, so the loudest speaker and the participant events come
/// live whether or not a composite is being made; video is decoded only by a composite.
struct SpeakerMeter {
    private final class Track {
        let participant: String
        let decoder: Decoder
        let resampler = Resampler(sampleRate: 16000, channels: 1)
        init(participant: String, decoder: Decoder) {
            self.participant = participant
            self.decoder = decoder
        }
    }

    /// A participant not heard for this long counts as silent.
    static let silenceAfter = 0.3
    private var tracks: [String: Track] = [:]
    private var energy: [String: (sum: Double, count: Int)] = [:]
    private var levels: [String: (level: Double, heard: Double)] = [:]
    private var detector = SpeakerDetector()
    /// Packets the decoder refused (the originals keep them all the same).
    private(set) var decodeErrors = 0

    private func key(_ participant: String, _ track: String) -> String { participant + "/" + track }

    mutating func addTrack(participant: String, track: String, parameters: TrackParameters) throws {
        guard parameters.kind == .audio else { return }
        tracks[key(participant, track)] = Track(participant: participant, decoder: try Decoder(parameters: parameters))
    }

    mutating func removeParticipant(_ participant: String) {
        tracks = tracks.filter { $0.value.participant != participant }
        energy[participant] = nil
        levels[participant] = nil
        detector.remove(participant)
    }

    /// Decodes one audio packet and adds its energy to its participant's.
    mutating func measure(participant: String, track: String, packet: EncodedPacket) {
        guard let meter = tracks[key(participant, track)] else { return }
        do {
            for frame in try meter.decoder.decode(try Packet(packet)) {
                let samples = try meter.resampler.convert(frame)
                var sum = 0.0
                for sample in samples { sum += Double(sample) * Double(sample) }
                let previous = energy[participant] ?? (0, 0)
                energy[participant] = (previous.sum + sum, previous.count + samples.count)
            }
        } catch {
            decodeErrors += 1
        }
    }

    /// Closes the interval that ends at session time `time`: the new loudest and ranking when the choice changed.
    mutating func update(time: Double) -> (loudest: String, ranking: [String])? {
        for (participant, measured) in energy where measured.count > 0 {
            levels[participant] = ((measured.sum / Double(measured.count)).squareRoot(), time)
        }
        energy.removeAll(keepingCapacity: true)
        guard !levels.isEmpty else { return nil }
        var current: [String: Double] = [:]
        for (participant, heard) in levels { current[participant] = time - heard.heard <= Self.silenceAfter ? heard.level : 0 }
        return detector.update(levels: current, time: time)
    }
}
