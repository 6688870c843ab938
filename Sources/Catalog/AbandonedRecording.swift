import Digest
import Foundation
import Recorder

/// Completes the manifest of a recording whose writer died (SIGKILL, a crash, a power cut): it says
/// `recording` while nobody holds its ``WriterLock``.
///
/// The record (the originals) is whole up to its last record: the manifest becomes `interrupted`, with
/// the duration it holds and the hash of the file as it is, so that it no longer looks like a recording
/// in progress and `verify` can check it. A live composite cut short is not evidence of anything: it is
/// removed and the composite queued, to be rendered from the originals.
public enum AbandonedRecording {
    /// Completes the manifest in `directory` if its writer is gone; returns whether it did.
    @discardableResult
    public static func completeIfAbandoned(directory: String) throws -> Bool {
        let path = directory + "/" + ManifestFile.name
        var manifest = try ManifestFile.read(path)
        guard manifest.status == "recording", !WriterLock.isHeld(directory: directory) else { return false }
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
        try? FileManager.default.removeItem(atPath: directory + "/" + WriterLock.fileName)
        return true
    }

    /// Completes every abandoned manifest under `root`; returns the directories completed.
    @discardableResult
    public static func completeAll(under root: String) -> [String] {
        ManifestFile.all(under: root).compactMap { path in
            let directory = (path as NSString).deletingLastPathComponent
            return (try? completeIfAbandoned(directory: directory)) == true ? directory : nil
        }
    }
}
