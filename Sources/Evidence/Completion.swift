import Digest
import Foundation

/// The signed record of someone other than the writer finishing a recording whose writer died: who, why,
/// the last seal it stands on, and the manifest as completed. `completion.json` beside the manifest; the
/// chain gets a `completion` entry for it. It is never `manifest.sig`: the writer did not sign this manifest,
/// and `verify` says who did (docs/EVIDENCE.md, *Completions*).
public struct Completion: Codable, Sendable, Equatable {
    public static let fileName = "completion.json"
    public var format = "ctlive-completion-v1"
    public var recording: String
    /// Who completed it, as they name themselves (`ctlive bot`, `ctlive recordings complete`).
    public var completedBy: String
    public var reason: String
    /// The last seal the writer made (its `seq`, `bytes`, `sha256`); nil when it made none.
    public var lastSeal: Int?
    public var sealedBytes: UInt64
    public var sealedSHA256: String?
    /// SHA-256 of `manifest.json` as completed, byte for byte.
    public var manifestSHA256: String
    public var time: String
    public var keyID: String
    public var signature: String

    public var signingString: String {
        [format, recording, completedBy, reason, lastSeal.map(String.init) ?? "", String(sealedBytes), sealedSHA256 ?? "", manifestSHA256, time, keyID]
            .joined(separator: "\n")
    }

    /// Signs the completion of the manifest in `directory` as it now is on disk, standing on `lastSeal`.
    @discardableResult
    public static func sign(directory: String, recording: String, completedBy: String, reason: String, lastSeal: Seal?,
                            key: SigningKey, time: Date = Date()) throws -> Completion {
        guard let bytes = FileManager.default.contents(atPath: directory + "/manifest.json") else {
            throw EvidenceError("cannot read \(directory)/manifest.json")
        }
        var record = Completion(recording: recording, completedBy: completedBy, reason: reason, lastSeal: lastSeal?.seq,
                                sealedBytes: lastSeal?.bytes ?? 0, sealedSHA256: lastSeal?.sha256, manifestSHA256: SHA256.hex(of: bytes),
                                time: EvidenceTime.string(time), keyID: key.keyID, signature: "")
        record.signature = try key.sign(record.signingString)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(record).write(to: URL(fileURLWithPath: directory + "/" + fileName), options: .atomic)
        return record
    }

    public static func read(directory: String) throws -> Completion? {
        guard let data = FileManager.default.contents(atPath: directory + "/" + fileName) else { return nil }
        do { return try JSONDecoder().decode(Completion.self, from: data) } catch {
            throw EvidenceError("\(directory)/\(fileName) is not a completion record")
        }
    }
}
