import Foundation

/// Signal checks on decoded audio: how strongly a tone is present (Goertzel), and loudness.
public enum AudioAnalysis {
    /// Relative power of `frequency` in `samples` (normalised by length; a full-scale sine gives about 0.25).
    public static func tonePower(_ samples: ArraySlice<Float>, frequency: Double, sampleRate: Double) -> Double {
        guard !samples.isEmpty else { return 0 }
        let coefficient = 2 * cos(2 * Double.pi * frequency / sampleRate)
        var s1 = 0.0, s2 = 0.0
        for sample in samples {
            let s0 = Double(sample) + coefficient * s1 - s2
            s2 = s1
            s1 = s0
        }
        let power = s1 * s1 + s2 * s2 - coefficient * s1 * s2
        let n = Double(samples.count)
        return power / (n * n)
    }

    /// Root mean square of `samples`.
    public static func rms(_ samples: ArraySlice<Float>) -> Double {
        guard !samples.isEmpty else { return 0 }
        var sum: Float = 0
        for sample in samples { sum += sample * sample }
        return Double((sum / Float(samples.count)).squareRoot())
    }
}
