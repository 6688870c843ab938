import Evidence
import Foundation
import Logging
import Media
import Recorder

/// What ``ReviewPage/write(manifestPath:options:logger:)`` left beside a recording.
public struct ReviewFiles: Sendable {
    /// `review.html`. It opens from the file system; `review.html#t=12.5` opens it at that moment.
    public var html: String
    /// `contactsheet.png`, nil when it could not be made (see ``contactSheetError``).
    public var contactSheet: String?
    /// The thumbnails' layout and times, when there is a contact sheet.
    public var sheet: ContactSheet?
    /// Why there is no contact sheet (no video, unreadable recording...); the page is written anyway.
    public var contactSheetError: String?
}

/// The review page of one recording: `review.html`, self-contained and openable from the file system,
/// and `contactsheet.png`, both written next to the recording's `manifest.json`.
public enum ReviewPage {
    /// The page's file name, beside the manifest.
    public static let htmlFileName = "review.html"
    /// The contact sheet's file name, beside the manifest.
    public static let contactSheetFileName = "contactsheet.png"

    /// Reads the manifest at `manifestPath`, makes the contact sheet from its recording and writes the review page.
    ///
    /// The page is written even when the contact sheet cannot be made (a failed recording with no picture);
    /// ``ReviewFiles/contactSheetError`` then says why. Both files are written atomically. Safe to call again:
    /// it replaces the previous page and sheet.
    /// - Throws: when the manifest cannot be read or decoded, or the page cannot be written.
    @discardableResult
    public static func write(manifestPath: String, options: ContactSheetOptions = .init(),
                             logger: Logger = Logger(label: "ctlive.review")) throws -> ReviewFiles {
        let manifestURL = URL(fileURLWithPath: manifestPath)
        let data = try Data(contentsOf: manifestURL)
        let manifest = try JSONDecoder().decode(RecordingManifest.self, from: data)
        let directory = manifestURL.deletingLastPathComponent()
        // The manifest names the recording; only a file beside it is ever used.
        // The page plays the composite (derived from the originals), when it has been made.
        let videoName = URL(fileURLWithPath: manifest.composite?.path ?? manifest.file).lastPathComponent
        let htmlPath = directory.appendingPathComponent(htmlFileName).path
        var files = ReviewFiles(html: htmlPath)

        do {
            let sheet = try ContactSheet.write(
                recordingPath: directory.appendingPathComponent(videoName).path,
                duration: manifest.durationSeconds ?? lastEventTime(manifest),
                to: directory.appendingPathComponent(contactSheetFileName).path, options: options)
            files.sheet = sheet
            files.contactSheet = sheet.path
        } catch {
            files.contactSheetError = "\(error)"
            logger.warning("no contact sheet for \(manifestPath): \(error)")
        }

        let document = ReviewDocument(
            manifestJSON: String(decoding: data, as: UTF8.self), session: manifest.session,
            videoFile: relativeURL(videoName),
            contactSheet: try files.sheet.map { (relativeURL(contactSheetFileName), try sheetInfo($0)) },
            evidence: compositeLines(manifest, directory: directory.path) + evidenceLines(directory: directory.path, recordingID: manifest.recordingID))
        do {
            try Data(document.render().utf8).write(to: URL(fileURLWithPath: htmlPath), options: .atomic)
        } catch {
            throw MediaError(operation: "write \(htmlPath)", message: "\(error)")
        }
        logger.info("review page written", metadata: ["page": "\(htmlPath)", "contactSheet": "\(files.contactSheet ?? "none")"])
        return files
    }

    /// Where the record is, and whether the composite that plays here exists yet.
    static func compositeLines(_ manifest: RecordingManifest, directory: String) -> [String] {
        guard let composite = manifest.composite else { return [] }
        var lines = ["The record is \(manifest.file): every packet each participant sent, as sent (\(manifest.originals?.tracks.count ?? 0) tracks)."]
        let rendered = FileManager.default.fileExists(atPath: directory + "/" + composite.path)
            && (composite.state == "rendered" || FileManager.default.fileExists(atPath: directory + "/" + Derivation.fileName))
        if rendered {
            lines.append("The video here is the composite derived from it (\(composite.path), \(composite.settings.layout.rawValue) layout).")
        } else {
            lines.append("The composite is pending (\(composite.state)\(composite.reason.map { ": \($0)" } ?? "")): nothing to play yet. "
                         + "Render it with `ctlive recordings render \(manifest.recordingID)`, or open the originals in any player: `ctlive recordings originals \(manifest.recordingID) --mkv FILE`.")
        }
        return lines
    }

    /// The evidence state as the files beside the recording say it (the page is written again on a hold
    /// or a release): who signed, how far it is sealed, where it stands in the chain, any hold or purge.
    static func evidenceLines(directory: String, recordingID: String) -> [String] {
        var lines: [String] = []
        let signature = try? ManifestSignature.read(directory: directory)
        let seals = (try? Seal.read(directory: directory)) ?? nil
        if let signature { lines.append("Manifest signed by key \(signature.keyID) (Ed25519).") }
        if let last = seals?.last {
            lines.append("Sealed \(seals?.count ?? 0) times while written, up to \(last.bytes) bytes at \(last.time).")
        }
        if let keyID = signature?.keyID ?? seals?.last?.keyID {
            // <root>/<day>/<recording>: the chain lives at the root.
            let root = ((directory as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
            let entries = (try? Chain.entries(path: root + "/" + Chain.fileName(keyID: keyID))) ?? []
            if let entry = entries.last(where: { $0.recording == recordingID && $0.kind == "recording" }) {
                lines.append("Entry \(entry.seq) of \(entries.count) in the recorder's chain (chain-\(keyID).jsonl), after \(entry.previous.prefix(12))….")
            }
        }
        if let data = FileManager.default.contents(atPath: directory + "/hold.json"),
            let hold = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        {
            lines.append("Under legal hold since \(hold["time"] as? String ?? "?"): \(hold["reason"] as? String ?? "").")
        }
        return lines
    }

    /// Where the recording ends when the manifest has no duration (a crashed recording): its last event.
    private static func lastEventTime(_ manifest: RecordingManifest) -> Double {
        manifest.events.compactMap(\.time).max() ?? 0
    }

    /// A file name as a relative URL (percent-encoded).
    private static func relativeURL(_ name: String) -> String {
        name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: ":"))) ?? name
    }

    /// The sheet's layout and times for the page's script (a click on a thumbnail seeks to its time).
    private static func sheetInfo(_ sheet: ContactSheet) throws -> String {
        struct Info: Encodable { var layout: ContactSheetLayout; var times: [Double] }
        return String(decoding: try JSONEncoder().encode(Info(layout: sheet.layout, times: sheet.times)), as: UTF8.self)
    }
}
