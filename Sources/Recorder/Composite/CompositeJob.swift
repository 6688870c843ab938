import Evidence
import Foundation
import Logging
import Media

/// Renders the composite of a finished recording folder from its originals, and signs its derivation.
public enum CompositeJob {
    /// States a composite is rendered from: waiting for it, or asked again after a failure.
    public static let renderable: Set<String> = ["queued", "on-demand", "failed"]

    /// Renders `<directory>/recording.mp4` from the originals with the manifest's settings, then writes
    /// `composite.json` (signed with `key` when given). With `output`, renders there instead and writes
    /// no derivation: an auditor's re-render, to compare with the recorder's.
    @discardableResult
    public static func render(directory: String, key: SigningKey?, output: String? = nil, logger: Logger) throws -> CompositeResult {
        let manifest = try JSONDecoder().decode(RecordingManifest.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/manifest.json")))
        guard let composite = manifest.composite, let originalsSHA = manifest.sha256 else {
            throw MediaError(operation: "render \(directory)", message: "the recording has no finished originals to render from")
        }
        guard ["finished", "interrupted"].contains(manifest.status) else {
            throw MediaError(operation: "render \(directory)", message: "the recording is \(manifest.status), not finished")
        }
        let target = output ?? directory + "/" + composite.path
        let result = try CompositeRenderer.render(originals: directory + "/" + manifest.file, output: target, settings: composite.settings, logger: logger)
        if output == nil {
            var derivation = Derivation(
                recording: manifest.recordingID, originalsSHA256: originalsSHA, compositeSHA256: result.sha256, composite: composite.path,
                renderer: CompositeRenderer.version, settings: try CompositeRenderer.canonical(composite.settings), mode: "after")
            try derivation.write(directory: directory, key: key)
        }
        return result
    }
}
