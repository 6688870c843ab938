import Catalog
import Foundation
import Logging
import PolicyHost
import Recorder
import Review
import Synchronization

/// The bot's third job: what becomes of a finished recording. Its review page is written beside it,
/// it is indexed in the catalog (with the policy decisions), and those waiting for it are told.
final class RecordingArchive: Sendable {
    private let root: String
    private let catalog: RecordingsCatalog?
    private let logger: Logger
    private let finished = Mutex<[RecordingResult]>([])
    private let onFinished = Mutex<(@Sendable (RecordingResult) -> Void)?>(nil)

    /// - Parameter catalog: index in `<root>/catalog.sqlite`; without, recordings are only written.
    init(root: String, catalog: Bool, logger: Logger) {
        self.root = root
        self.logger = logger
        do {
            self.catalog = catalog ? try RecordingsCatalog(root: root, creatingRoot: true, logger: logger) : nil
        } catch {
            // Recording matters more than indexing: the catalog is rebuilt from the manifests later.
            logger.error("catalog unavailable, recording without it: \(error)")
            self.catalog = nil
        }
    }

    /// Recordings a dead writer left `recording` (a bot before a crash, say) are completed as
    /// `interrupted` and indexed; those another live bot writes are left alone (WriterLock).
    func completeAbandoned() {
        if let catalog {
            do { try catalog.indexNewManifests() } catch { logger.error("cannot index the recordings left behind: \(error)") }
        } else {
            AbandonedRecording.completeAll(under: root)
        }
    }

    /// A part completed as interrupted (its worker was lost): indexed, no review page.
    func index(manifestAt path: String) {
        do { try catalog?.index(manifestAt: path) } catch { logger.error("cannot index \(path) in the catalog: \(error)") }
    }

    func index(decision: AuditRecord) {
        do { try catalog?.index(decision: decision) } catch { logger.error("cannot index decision \(decision.decisionID): \(error)") }
    }

    /// A recording is finished: its review page, its catalog entry, then whoever waits for it.
    func archive(_ result: RecordingResult, roomID: String) {
        do {
            let review = try ReviewPage.write(manifestPath: result.manifestPath, logger: logger)
            if let problem = review.contactSheetError { logger.warning("no contact sheet for \(roomID): \(problem)") }
        } catch {
            logger.error("cannot write the review page of \(roomID): \(error)")
        }
        index(manifestAt: result.manifestPath)
        finished.withLock { $0.append(result) }
        logger.info("recording finished", metadata: ["room": "\(roomID)", "file": "\(result.recordingPath)",
                                                     "seconds": "\(result.duration)", "sha256": "\(result.sha256)"])
        onFinished.withLock { $0 }?(result)
    }

    var recordings: [RecordingResult] { finished.withLock { $0 } }

    func onRecordingFinished(_ handler: @escaping @Sendable (RecordingResult) -> Void) {
        onFinished.withLock { $0 = handler }
    }
}
