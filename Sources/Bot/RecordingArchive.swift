import Catalog
import Evidence
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
    let catalog: RecordingsCatalog?
    private let logger: Logger
    private let finished = Mutex<[RecordingResult]>([])
    private let onFinished = Mutex<(@Sendable (RecordingResult) -> Void)?>(nil)
    private let onStoredChange = Mutex<(@Sendable () -> Void)?>(nil)
    private let onComposite = Mutex<(@Sendable (String) -> Void)?>(nil)
    /// Composites deferred (`after`, or `auto` without headroom), rendered here in idle time.
    private let composites: Mutex<CompositeQueue?> = Mutex(nil)
    /// Who signs the completion of an abandoned recording (this bot, when it has a key).
    let completer: AbandonedRecording.Completer?

    /// - Parameter catalog: index in `<root>/catalog.sqlite`; without, recordings are only written.
    /// - Parameter renderer: the command that renders a queued composite (`ctlive render-composite`); nil renders in this process.
    init(root: String, catalog: Bool, renderer: [String]?, signingKey: String?, load: MachineLoad, logger: Logger) {
        self.root = root
        self.logger = logger
        // The bot completes what its dead workers (or a crashed bot before it) left unfinished, and signs that.
        completer = signingKey.flatMap { try? SigningKey.load(path: $0) }
            .map { AbandonedRecording.Completer(key: $0, name: "ctlive bot", chainRoot: root) }
        defer {
            let queue = CompositeQueue(command: renderer, signingKey: signingKey, load: load, logger: logger) { [weak self] directory in
                self?.rendered(directory: directory)
            }
            composites.withLock { $0 = queue }
        }
        do {
            self.catalog = catalog ? try RecordingsCatalog(root: root, creatingRoot: true, completer: completer, logger: logger) : nil
        } catch {
            // Recording matters more than indexing: the catalog is rebuilt from the manifests later.
            logger.error("catalog unavailable, recording without it: \(error)")
            self.catalog = nil
        }
    }

    /// Composites waiting to be rendered.
    var compositesQueued: Int { composites.withLock { $0?.depth ?? 0 } }

    /// A composite was rendered: the review page shows it, the catalog knows it.
    private func rendered(directory: String) {
        do { _ = try ReviewPage.write(manifestPath: directory + "/manifest.json", logger: logger) } catch {
            logger.error("cannot write the review page of \(directory): \(error)")
        }
        index(manifestAt: directory + "/manifest.json")
        logger.info("composite rendered", metadata: ["directory": "\(directory)"])
        onComposite.withLock { $0 }?(directory)
        onStoredChange.withLock { $0 }?()
    }

    func onCompositeRendered(_ handler: @escaping @Sendable (String) -> Void) { onComposite.withLock { $0 = handler } }

    /// Composites left queued by an earlier run (a restart, a crash) are queued again.
    private func requeuePendingComposites() {
        let days = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        for day in days.sorted() where day.count == 10 {
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: root + "/" + day)) ?? []).sorted() {
                let directory = root + "/" + day + "/" + name
                guard let data = FileManager.default.contents(atPath: directory + "/manifest.json"),
                    let manifest = try? JSONDecoder().decode(RecordingManifest.self, from: data), manifest.composite?.state == "queued",
                    ["finished", "interrupted"].contains(manifest.status),
                    !FileManager.default.fileExists(atPath: directory + "/" + Derivation.fileName)
                else { continue }
                composites.withLock { $0 }?.enqueue(directory: directory)
            }
        }
    }

    /// Recordings a dead writer left `recording` (a bot before a crash, say) are completed as
    /// `interrupted` and indexed; those another live bot writes are left alone (WriterLock).
    func completeAbandoned() {
        defer { requeuePendingComposites() }
        if let catalog {
            do { try catalog.indexNewManifests() } catch { logger.error("cannot index the recordings left behind: \(error)") }
        } else {
            AbandonedRecording.completeAll(under: root, completer: completer)
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
        if result.composite.state == "queued" { composites.withLock { $0 }?.enqueue(directory: result.directory) }
        finished.withLock { $0.append(result) }
        logger.info("recording finished", metadata: ["room": "\(roomID)", "file": "\(result.recordingPath)",
                                                     "seconds": "\(result.duration)", "sha256": "\(result.sha256)"])
        onFinished.withLock { $0 }?(result)
        onStoredChange.withLock { $0 }?()
    }

    var recordings: [RecordingResult] { finished.withLock { $0 } }

    /// Called when a part is archived or a composite rendered: something new for the spool.
    func onStored(_ handler: @escaping @Sendable () -> Void) { onStoredChange.withLock { $0 = handler } }

    func onRecordingFinished(_ handler: @escaping @Sendable (RecordingResult) -> Void) {
        onFinished.withLock { $0 = handler }
    }
}
