import Foundation
import Media

/// Mixes mono 48 kHz sources placed on the session timeline. Each source writes its samples at their
/// session position; ``mix(start:count:)`` sums what each source has for a block (silence where it has
/// nothing) and reports each source's level. Gaps become silence; nothing shifts.
final class AudioMixer {
    struct Source {
        /// Session sample index of `samples[0]`.
        var base: Int64
        var samples: [Float] = []
    }

    private var sources: [String: Source] = [:]
    private var mixedUpTo: Int64 = 0
    /// Samples each source may buffer ahead of the mix (bounded memory against bad timestamps).
    let maximumAhead: Int64

    init(sampleRate: Int32) { maximumAhead = Int64(sampleRate) * 5 }

    /// Writes `samples` of `source` at session sample `position`. Returns the number of samples dropped (late or too far ahead).
    ///
    /// Any `position` is safe: the caller places untrusted timestamps, and a jump either way must cost
    /// samples, never the recording.
    @discardableResult
    func write(_ samples: [Float], source key: String, at position: Int64) -> Int {
        var source = sources[key] ?? Source(base: max(position, mixedUpTo))
        var position = position, slice = samples[...]
        if position < mixedUpTo {  // already mixed: too late
            let late = Int(min(Int64(slice.count), mixedUpTo - position))
            slice = slice.dropFirst(late)
            position += Int64(late)
        }
        guard !slice.isEmpty else { sources[key] = source; return samples.count }
        let end = position + Int64(slice.count)
        guard end - mixedUpTo <= maximumAhead else { sources[key] = source; return samples.count }
        if source.samples.isEmpty {
            source.base = position  // nothing buffered: start where this write starts (never before the mix)
        } else if position < source.base {
            // Earlier than what is buffered (the timestamps went back): grow the buffer at the front.
            // Bounded: position >= mixedUpTo, and the buffer ends within maximumAhead of it.
            source.samples.insert(contentsOf: repeatElement(0, count: Int(source.base - position)), at: 0)
            source.base = position
        }
        let needed = Int(end - source.base)
        if needed > source.samples.count { source.samples.append(contentsOf: repeatElement(0, count: needed - source.samples.count)) }
        let offset = Int(position - source.base)
        source.samples.replaceSubrange(offset..<offset + slice.count, with: slice)
        sources[key] = source
        return samples.count - slice.count
    }

    func remove(source key: String) { sources[key] = nil }

    /// The mix of samples [start, start + count) and each source's RMS level over it.
    func mix(start: Int64, count: Int) -> (samples: [Float], levels: [String: Double]) {
        var output = [Float](repeating: 0, count: count)
        var levels: [String: Double] = [:]
        let end = start + Int64(count)
        for (key, var source) in sources {
            let from = max(start, source.base), to = min(end, source.base + Int64(source.samples.count))
            if to > from {
                let range = Int(from - source.base)..<Int(to - source.base)
                let chunk = source.samples[range]
                levels[key] = AudioAnalysis.rms(chunk)
                var index = Int(from - start)
                for sample in chunk {
                    output[index] += sample
                    index += 1
                }
            } else {
                levels[key] = 0
            }
            let consumed = Int(min(max(0, end - source.base), Int64(source.samples.count)))
            source.samples.removeFirst(consumed)
            source.base = max(source.base + Int64(consumed), end)
            sources[key] = source
        }
        for index in output.indices { output[index] = max(-1, min(1, output[index])) }
        mixedUpTo = end
        return (output, levels)
    }
}

/// Picks the loudest participant from audio levels, with hysteresis: a new speaker must be clearly louder
/// (by `margin` dB) than the current one for `hold` seconds before the choice changes.
struct SpeakerDetector {
    var margin = 6.0
    var hold = 0.6
    var silenceFloor = -50.0
    private(set) var loudest: String?
    private var smoothed: [String: Double] = [:]
    private var challenger: (id: String, since: Double)?

    /// Feeds one block's levels (linear RMS) at session `time`. Returns the new loudest and ranking when the choice changed.
    mutating func update(levels: [String: Double], time: Double) -> (loudest: String, ranking: [String])? {
        for (id, level) in levels {
            let db = 20 * log10(max(level, 1e-6))
            smoothed[id] = 0.7 * (smoothed[id] ?? db) + 0.3 * db
        }
        smoothed = smoothed.filter { levels[$0.key] != nil }
        let ranking = smoothed.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map(\.key)
        guard let top = ranking.first, smoothed[top]! > silenceFloor else { challenger = nil; return nil }
        guard let current = loudest, smoothed[current] != nil else {
            loudest = top
            challenger = nil
            return (top, ranking)
        }
        guard top != current, smoothed[top]! > smoothed[current]! + margin else { challenger = nil; return nil }
        if challenger?.id != top { challenger = (top, time) }
        guard time - challenger!.since >= hold else { return nil }
        loudest = top
        challenger = nil
        return (top, ranking)
    }

    mutating func remove(_ id: String) {
        smoothed[id] = nil
        if loudest == id { loudest = nil }
    }
}
