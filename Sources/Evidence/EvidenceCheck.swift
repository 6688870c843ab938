import Digest
import Foundation

/// Checks a recording's evidence against trusted public keys: the manifest's signature and the seals
/// made while it was written (docs/EVIDENCE.md says exactly what is checked).
public struct EvidenceCheck: Sendable {
    /// What is wrong, each a sentence naming the place.
    public var problems: [String] = []
    /// The key that signed the seals and the manifest, when they verify.
    public var signedBy: String?
    /// Bytes of the recording covered by the last valid seal, and the file's length.
    public var sealedBytes: UInt64 = 0
    public var fileBytes: UInt64 = 0
    /// When the last seal was made.
    public var sealedAt: String?
    public var manifestSigned = false
    /// A verified completion: the manifest was finished by `completedBy`, not by its writer.
    public var completion: Completion?

    /// Bytes after the last seal: what a crash left unsealed.
    public var unsealedBytes: UInt64 { fileBytes > sealedBytes ? fileBytes - sealedBytes : 0 }

    /// Checks `directory` (`recording.mp4` or `file`, `manifest.json`, `manifest.sig`, `seals.jsonl`).
    /// - Parameters:
    ///   - trusted: the keys whose signatures count; empty: recordings need not be signed (nothing is checked).
    ///   - finished: the manifest says the recording finished: its last seal must then cover the whole file.
    ///   - manifestSHA256: the file's hash the manifest states, checked against the last seal when finished.
    ///   - recordingID: the recording the manifest names: every seal must name it too (seals of another
    ///     recording, signed by the same key, do not pass for these).
    ///   - interrupted: the manifest says the recording was interrupted: the writer's `manifest.sig` or a
    ///     completer's `completion.json` must then bind it.
    public static func check(directory: String, file: String = "recording.mp4", trusted: [PublicKey], finished: Bool,
                             manifestSHA256: String?, recordingID: String? = nil, interrupted: Bool = false) -> EvidenceCheck {
        var result = EvidenceCheck()
        guard !trusted.isEmpty else { return result }
        let byID = Dictionary(trusted.map { ($0.keyID, $0) }, uniquingKeysWith: { first, _ in first })

        // The manifest, exactly as it is on disk.
        do {
            if let signature = try ManifestSignature.read(directory: directory) {
                let bytes = FileManager.default.contents(atPath: directory + "/manifest.json") ?? Data()
                if let key = byID[signature.keyID] {
                    if SHA256.hex(of: bytes) != signature.manifestSHA256 {
                        result.problems.append("manifest.json was changed after it was signed (its SHA-256 is not the signed one)")
                    } else if !key.verifies(signature.signature, of: signature.signingString) {
                        result.problems.append("manifest.sig: the signature does not verify with key \(signature.keyID)")
                    } else {
                        result.manifestSigned = true
                        result.signedBy = signature.keyID
                    }
                } else {
                    result.problems.append("manifest.sig is signed by key \(signature.keyID), which is not trusted")
                }
            } else if let completion = try Completion.read(directory: directory) {
                let bytes = FileManager.default.contents(atPath: directory + "/manifest.json") ?? Data()
                if let key = byID[completion.keyID] {
                    if SHA256.hex(of: bytes) != completion.manifestSHA256 {
                        result.problems.append("manifest.json was changed after its completion was signed (its SHA-256 is not the one completion.json signed)")
                    } else if !key.verifies(completion.signature, of: completion.signingString) {
                        result.problems.append("completion.json: the signature does not verify with key \(completion.keyID)")
                    } else if let recordingID, completion.recording != recordingID {
                        result.problems.append("completion.json completes \(completion.recording), not \(recordingID)")
                    } else {
                        result.completion = completion
                    }
                } else {
                    result.problems.append("completion.json is signed by key \(completion.keyID), which is not trusted")
                }
            } else if finished || interrupted {
                result.problems.append("manifest.json is not signed (no manifest.sig, no completion.json)")
            }
        } catch {
            result.problems.append("\(error)")
        }

        // The seals, then one pass over the file, comparing at each sealed length.
        let seals: [Seal]
        do { seals = try Seal.read(directory: directory) ?? [] } catch {
            result.problems.append("\(error)")
            return result
        }
        let path = directory + "/" + file
        result.fileBytes = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.uint64Value ?? 0
        if seals.isEmpty {
            result.problems.append("no seals: the recording was not sealed while it was written")
            return result
        }
        var valid: [Seal] = []
        for (index, seal) in seals.enumerated() {
            guard let key = byID[seal.keyID] else {
                result.problems.append("seal \(seal.seq) is signed by key \(seal.keyID), which is not trusted")
                return result
            }
            guard key.verifies(seal.signature, of: seal.signingString) else {
                result.problems.append("seal \(seal.seq) (line \(index + 1) of seals.jsonl): the signature does not verify")
                return result
            }
            if let recordingID, seal.recording != recordingID {
                result.problems.append("seal \(seal.seq) (line \(index + 1) of seals.jsonl) is a seal of \(seal.recording), not of \(recordingID)")
                return result
            }
            // Seals run 1, 2, 3…: a first one removed is as much a hole as any other.
            if valid.isEmpty && seal.seq != 1 {
                result.problems.append("seals.jsonl starts at seal \(seal.seq), not 1 (a seal removed)")
                return result
            }
            if let last = valid.last, seal.seq != last.seq + 1 || seal.bytes < last.bytes {
                result.problems.append("seal \(seal.seq) does not follow seal \(last.seq) (a seal removed or reordered)")
                return result
            }
            valid.append(seal)
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            result.problems.append("missing file \(path)")
            return result
        }
        defer { try? handle.close() }
        let hash = SHA256()
        var read: UInt64 = 0
        var previous: Seal?
        for seal in valid {
            while read < seal.bytes {
                let want = Int(min(seal.bytes - read, 1 << 20))
                guard let chunk = try? handle.read(upToCount: want), !chunk.isEmpty else { break }
                hash.update(chunk)
                read += UInt64(chunk.count)
            }
            guard read == seal.bytes else {
                result.problems.append("the file is \(result.fileBytes) bytes, shorter than seal \(seal.seq) says (\(seal.bytes)): it was cut after it was sealed")
                return result
            }
            guard hash.currentHex() == seal.sha256 else {
                let from = previous?.bytes ?? 0
                result.problems.append("bytes \(from)-\(seal.bytes) of \(file) were changed after seal \(seal.seq) (\(seal.time)) sealed them")
                return result
            }
            result.sealedBytes = seal.bytes
            result.sealedAt = seal.time
            result.signedBy = result.signedBy ?? seal.keyID
            previous = seal
        }
        if let completion = result.completion, let last = valid.last,
           completion.lastSeal != last.seq || completion.sealedBytes != last.bytes || completion.sealedSHA256 != last.sha256 {
            result.problems.append("completion.json stands on seal \(completion.lastSeal.map(String.init) ?? "none"), but the last seal is \(last.seq)")
        }
        if finished {
            if result.unsealedBytes > 0 { result.problems.append("\(result.unsealedBytes) bytes after the last seal, though the recording finished") }
            if let manifestSHA256, let last = valid.last, last.sha256 != manifestSHA256 {
                result.problems.append("the manifest's sha256 is not the one the last seal signed")
            }
        }
        return result
    }

    /// Public keys in `directory` (`*.pub`), for verifying recordings made there.
    public static func keys(in directory: String) -> [PublicKey] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".pub") }.sorted()
            .compactMap { try? PublicKey.load(path: directory + "/" + $0) }
    }
}
