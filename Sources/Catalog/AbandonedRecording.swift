import Digest
import Evidence
import Foundation
import Recorder

/// Completes the manifest of a recording whose writer died (SIGKILL, a crash, a power cut): it says
/// `recording` while nobody holds its ``WriterLock``.
///
/// The record (the originals) is whole up to its last record: the manifest becomes `interrupted`, with
/// the duration it holds and the hash of the file as it is, so that it no longer looks like a recording
/// in progress and `verify` can check it. A live composite cut short is not evidence of anything: it is
/// removed and the composite queued, to be rendered from the originals.
///
/// A sealed (signed) recording is completed only by someone with a signing key, who signs what they did:
/// `completion.json` and a `completion` entry in their chain (``Completion``). Without a key it is left as
/// it is, `recording` with no writer, and `verify` calls it abandoned.
public enum AbandonedRecording {
    /// Who completes: their signing key, the name they sign as, and the folder whose chain records it.
    public struct Completer: Sendable {
        public var key: SigningKey
        public var name: String
        public var chainRoot: String?
        public init(key: SigningKey, name: String, chainRoot: String?) { self.key = key; self.name = name; self.chainRoot = chainRoot }
    }

    /// Whether `directory` holds a recording whose writer died before finishing it.
    public static func isAbandoned(directory: String) -> Bool {
        (try? ManifestFile.read(directory + "/" + ManifestFile.name))?.status == "recording" && !WriterLock.isHeld(directory: directory)
    }

    /// Completes the manifest in `directory` if its writer is gone; returns whether it did.
    @discardableResult
    public static func completeIfAbandoned(directory: String, completer: Completer? = nil) throws -> Bool {
        let path = directory + "/" + ManifestFile.name
        var manifest = try ManifestFile.read(path)
        guard manifest.status == "recording", !WriterLock.isHeld(directory: directory) else { return false }
        let seals = (try? Seal.read(directory: directory)) ?? nil
        // Its seals make it evidence: an unsigned completion would pass off anyone's edit as the record.
        if let seals, !seals.isEmpty, completer == nil { return false }
        let file = directory + "/" + manifest.file
        let media = MediaCheck(path: file)
        manifest.status = "interrupted"
        manifest.interruption = "the recorder stopped writing before the end (it crashed or was killed); completed afterwards"
        manifest.durationSeconds = media.failure == nil || media.end > 0 ? media.end : 0
        manifest.sha256 = try? SHA256.hex(ofFileAt: file)
        if manifest.wallClockEnd == nil, let modified = (try? FileManager.default.attributesOfItem(atPath: file))?[.modificationDate] as? Date {
            manifest.wallClockEnd = RecordingManifest.timestamp(modified)
        }
        if let failure = media.failure { manifest.problems.append("after the interruption: \(failure)") }
        if var composite = manifest.composite, composite.state == "live" {
            try? FileManager.default.removeItem(atPath: directory + "/" + composite.path)
            (composite.state, composite.mode, composite.reason) = ("queued", "after", "the live composite was cut short with its writer")
            manifest.composite = composite
        }
        try manifest.write(to: path)
        if let completer {
            let completion = try Completion.sign(directory: directory, recording: manifest.recordingID, completedBy: completer.name,
                                                 reason: manifest.interruption ?? "interrupted", lastSeal: seals?.last, key: completer.key)
            if let chainRoot = completer.chainRoot {
                _ = try Chain.append(root: chainRoot, key: completer.key, kind: "completion", recording: manifest.recordingID,
                                     manifestSHA256: completion.manifestSHA256, reason: completer.name)
            }
        }
        try? FileManager.default.removeItem(atPath: directory + "/" + WriterLock.fileName)
        return true
    }

    /// Completes every abandoned manifest under `root`; returns the directories completed.
    @discardableResult
    public static func completeAll(under root: String, completer: Completer? = nil) -> [String] {
        ManifestFile.all(under: root).compactMap { path in
            let directory = (path as NSString).deletingLastPathComponent
            return (try? completeIfAbandoned(directory: directory, completer: completer)) == true ? directory : nil
        }
    }
}
