import Catalog
import Evidence
import Foundation
import Logging
import Synchronization

/// Drains the local catalog's outbox into the fleet catalog: every recording indexed on this machine is
/// written to PostgreSQL, in the order it was queued. While PostgreSQL cannot be reached, recording goes on
/// and the outbox grows; it is drained when it comes back (with backoff from 1 s up to 30 s). A row leaves
/// the outbox only after its upsert committed, and upserts are idempotent: nothing is lost, nothing doubled.
///
/// It also records the head of this recorder's evidence chain, signed, in `chain_checkpoints`: whenever the chain
/// moved, and at least every minute. A checkpoint there outlives this machine, so a chain later cut in the store
/// or on disk fails `verify --all --catalog` (the newest head recorded covers every entry before it).
public final class FleetSync: Sendable {
    let local: RecordingsCatalog
    let url: String
    let checkpoint: @Sendable () -> ChainCheckpoint?
    /// The chain entry last recorded, and when.
    private let lastCheckpoint = Mutex<(seq: Int, at: ContinuousClock.Instant)?>(nil)
    /// A client whose connections failed is replaced: PostgresNIO's pool backs off for up to a minute, and a
    /// database that came back should be written at once.
    private let fleet: Mutex<FleetCatalog>
    let logger: Logger

    /// - Parameter checkpoint: this recorder's chain head, signed now (nil: no signing key, or no entry yet).
    public init(local: RecordingsCatalog, url: String, checkpoint: @escaping @Sendable () -> ChainCheckpoint? = { nil }, logger: Logger) throws {
        (self.local, self.url, self.checkpoint, self.logger) = (local, url, checkpoint, logger)
        fleet = Mutex(try FleetCatalog(url: url, logger: logger))
    }

    /// Writes every queued recording; returns how many. Throws at the first failure (the rest stay queued).
    @discardableResult
    public func drain() async throws -> Int {
        do { return try await drainOnce() } catch {
            if let fresh = try? FleetCatalog(url: url, logger: logger) { fleet.withLock { $0 = fresh } }
            throw error
        }
    }

    private func drainOnce() async throws -> Int {
        let fleet = fleet.withLock { $0 }
        try await fleet.migrate()
        var written = 0
        while true {
            let batch = try local.fleetOutbox(limit: 100)
            if batch.isEmpty {
                try await recordCheckpoint(fleet, chainMayHaveMoved: written > 0)
                return written
            }
            for item in batch {
                try Task.checkCancellation()
                if FileManager.default.fileExists(atPath: local.root + "/" + item.directory + "/manifest.json") {
                    try await fleet.upsert(root: local.root, relative: item.directory)
                    written += 1
                }
                try local.fleetDelivered(directory: item.directory, queuedAt: item.queuedAt)
            }
        }
    }

    /// Records the chain head when a recording was just written (its chain entry came before it) or a minute passed:
    /// reading the chain every drain would cost a read of the whole chain file every 2 s.
    private func recordCheckpoint(_ fleet: FleetCatalog, chainMayHaveMoved: Bool) async throws {
        let now = ContinuousClock.now
        let last = lastCheckpoint.withLock { $0 }
        if !chainMayHaveMoved, let last, now - last.at < .seconds(60) { return }
        guard let checkpoint = checkpoint() else { return }
        guard last.map({ $0.seq != checkpoint.seq || now - $0.at >= .seconds(60) }) ?? true else { return }
        try await fleet.record(checkpoint: checkpoint)
        lastCheckpoint.withLock { $0 = (checkpoint.seq, now) }
    }

    /// Drains every `interval` until cancelled (each drain brings the schema up to date first: cheap once done).
    public func run(interval: Duration = .seconds(2)) async {
        var failures = 0
        while !Task.isCancelled {
            do {
                let written = try await drain()
                if written > 0 { logger.info("fleet catalog caught up", metadata: ["recordings": "\(written)"]) }
                failures = 0
            } catch is CancellationError {
                return
            } catch {
                failures += 1
                logger.warning("the fleet catalog is unreachable; recordings wait in the outbox", metadata: ["error": "\(String(reflecting: error))", "attempt": "\(failures)"])
            }
            try? await Task.sleep(for: failures == 0 ? interval : .seconds(min(30, 1 << min(failures - 1, 5))))
        }
    }
}
