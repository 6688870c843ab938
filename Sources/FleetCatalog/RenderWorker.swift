import ChildProcess
import Foundation
import Logging
import ObjectStore
import Spool

/// Renders deferred composites for the whole fleet: takes a job from PostgreSQL (`FOR UPDATE SKIP LOCKED`),
/// fetches the recording's originals from the store, renders in a child process (`ctlive render-composite`:
/// FFmpeg parses what members sent), puts the composite and its signed derivation beside the originals, and
/// ends the job. While it renders it renews its hold; a worker that dies stops renewing, and after
/// `staleAfter` another takes the job. Renders are deterministic, so a job done twice writes the same bytes.
public final class RenderWorker: Sendable {
    let fleet: FleetCatalog
    let store: S3Client
    let worker: String
    let renderer: [String]
    let signingKey: String?
    let staleAfter: Duration
    let logger: Logger

    public init(catalog url: String, store: S3Client, worker: String, renderer: [String], signingKey: String?, staleAfter: Duration = .seconds(120),
                logger: Logger) throws {
        fleet = try FleetCatalog(url: url, logger: logger)
        (self.store, self.worker, self.renderer, self.signingKey, self.staleAfter, self.logger) = (store, worker, renderer, signingKey, staleAfter, logger)
    }

    /// What one turn did.
    public enum Turn: Sendable, Equatable {
        /// No job was waiting.
        case idle
        case rendered(String)
        /// The render failed: the job is queued again, the attempt counted (a job failing every time stops being taken).
        case failed(String)
        /// The worker could not do the job, through no fault of the job (the store unreachable, the worker stopped):
        /// given back, the attempt not counted.
        case givenBack(String)
    }

    /// Takes and does one job.
    public func renderOne() async throws -> Turn {
        try await fleet.migrate()
        guard let job = try await fleet.takeRenderJob(worker: worker, staleAfter: staleAfter) else { return .idle }
        logger.info("rendering", metadata: ["recording": "\(job.recording)", "attempt": "\(job.attempt)"])
        do {
            try await render(job)
        } catch {
            if Task.isCancelled {
                // Stopped (its bot shutting down): given back from a task of its own, since this one is cancelled.
                let (fleet, worker) = (fleet, worker)
                await Task { try? await fleet.releaseRenderJob(job.recording, worker: worker) }.value
                return .givenBack(job.recording)
            }
            if let error = error as? ObjectStoreError, error.status.map({ $0 >= 500 }) ?? true {
                logger.warning("render job given back: the store is unreachable", metadata: ["recording": "\(job.recording)", "error": "\(error)"])
                try await fleet.releaseRenderJob(job.recording, worker: worker)
                return .givenBack(job.recording)
            }
            logger.error("render failed", metadata: ["recording": "\(job.recording)", "error": "\(error)"])
            try await fleet.finishRenderJob(job.recording, worker: worker, error: "\(error)")
            return .failed(job.recording)
        }
        try await fleet.finishRenderJob(job.recording, worker: worker, error: nil)
        return .rendered(job.recording)
    }

    /// Renders until cancelled, waiting `idle` when there is nothing to do (or PostgreSQL is unreachable).
    /// - Parameter mayTake: asked before each job; false waits `idle` (a recorder bot renders for the fleet
    ///   only with headroom, its own rooms first).
    public func run(idle: Duration = .seconds(2), mayTake: @escaping @Sendable () -> Bool = { true }) async {
        while !Task.isCancelled {
            do {
                guard mayTake() else {
                    try? await Task.sleep(for: idle)
                    continue
                }
                // After a rendered job, the next at once; after anything else, a pause (a failing store or renderer
                // must not spend a job's attempts in a second).
                if case .rendered = try await renderOne() { continue }
            } catch is CancellationError {
                return
            } catch {
                logger.warning("no render job taken", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: idle)
        }
    }

    private func render(_ job: FleetCatalog.RenderJob) async throws {
        // `s3://BUCKET/KEY-PREFIX/`: where the recording's files are.
        let parts = job.location.dropFirst("s3://".count).split(separator: "/", maxSplits: 1)
        guard job.location.hasPrefix("s3://"), parts.count == 2 else { throw FleetCatalogError("\(job.recording) has no location in the store: \(job.location)") }
        let bucket = String(parts[0]), prefix = String(parts[1]).hasSuffix("/") ? String(parts[1]) : String(parts[1]) + "/"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ctlive-render-\(UUID().uuidString)/\(job.recording)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent) }
        for name in ["manifest.json", "originals.ctlo"] {
            try await store.getObject(bucket: bucket, key: prefix + name, to: directory + "/" + name)
        }
        // Alive while rendering: renew the hold at a quarter of the time after which it would be taken from us.
        let renewal = Task { [fleet, worker, staleAfter] in
            while !Task.isCancelled {
                try? await Task.sleep(for: staleAfter / 4)
                try? await fleet.renewRenderJob(job.recording, worker: worker)
            }
        }
        defer { renewal.cancel() }
        var arguments = Array(renderer.dropFirst()) + ["--directory", directory, "--nice", "10"]
        if let signingKey { arguments += ["--signing-key", signingKey] }
        let child = try ChildProcess.spawn(executable: renderer[0], arguments: arguments,
                                           environment: ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" })
        // A worker stopped mid-render (its bot shutting down) stops its renderer too, and gives the job back.
        let status = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in child.onExit { continuation.resume(returning: $0) } }
        } onCancel: {
            child.kill(SIGTERM)
        }
        guard status == .exited(0) else { throw FleetCatalogError("the renderer \(status)") }
        let uploader = RecordingUploader(root: directory, store: store, location: StorageLocation(bucket: bucket, prefix: ""), keepLocal: true, logger: logger)
        for name in ["recording.mp4", "composite.json"] {
            try await uploader.put(path: directory + "/" + name, key: prefix + name)
        }
        logger.info("composite rendered and stored", metadata: ["recording": "\(job.recording)", "location": "\(job.location)"])
    }
}
