import Digest
import Foundation

/// The signed derivation of a composite: `composite.json` beside the recording (docs/EVIDENCE.md).
///
/// Binds the composite's hash to the originals' hash, the renderer that made it and its settings, so
/// that an auditor who trusts the originals can render them again (`ctlive recordings render ID
/// --output FILE`) and compare bytes. Whoever renders signs: the recorder for a live composite, the
/// bot or render worker that took the job for a deferred one.
public struct Derivation: Codable, Sendable, Equatable {
    public static let fileName = "composite.json"

    public var recording: String
    public var originalsSHA256: String
    public var compositeSHA256: String
    /// The composite's name beside the originals (`recording.mp4`).
    public var composite: String
    /// What rendered it: our version and FFmpeg's libraries.
    public var renderer: String
    /// The composite's settings, as canonical JSON (sorted keys, no spaces).
    public var settings: String
    /// `live` (made while the session went on) or `after` (rendered from the finished originals).
    public var mode: String
    public var time: String
    public var keyID: String
    public var signature: String

    public init(recording: String, originalsSHA256: String, compositeSHA256: String, composite: String, renderer: String, settings: String,
                mode: String, time: Date = Date()) {
        self.recording = recording
        self.originalsSHA256 = originalsSHA256
        self.compositeSHA256 = compositeSHA256
        self.composite = composite
        self.renderer = renderer
        self.settings = settings
        self.mode = mode
        self.time = EvidenceTime.string(time)
        keyID = ""
        signature = ""
    }

    /// What is signed: these lines, joined by `\n`, as UTF-8.
    public var signingString: String {
        ["ctlive-derivation-v1", recording, originalsSHA256, compositeSHA256, composite, renderer, settings, mode, time, keyID]
            .joined(separator: "\n")
    }

    /// Signs and writes `composite.json` in `directory` (atomically: a crash leaves the old or the new).
    public mutating func write(directory: String, key: SigningKey?) throws {
        if let key {
            keyID = key.keyID
            signature = try key.sign(signingString)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(self).write(to: URL(fileURLWithPath: directory + "/" + Self.fileName), options: .atomic)
    }

    public static func read(directory: String) throws -> Derivation? {
        guard let data = FileManager.default.contents(atPath: directory + "/" + fileName) else { return nil }
        do { return try JSONDecoder().decode(Derivation.self, from: data) } catch {
            throw EvidenceError("\(directory)/\(fileName) is not a derivation record")
        }
    }

    /// Whether one of `trusted` signed it.
    public func isSigned(by trusted: [PublicKey]) -> Bool {
        trusted.contains { $0.keyID == keyID && $0.verifies(signature, of: signingString) }
    }
}
