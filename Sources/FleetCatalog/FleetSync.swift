import Catalog
import Foundation
import Logging
import Synchronization

/// Drains the local catalog's outbox into the fleet catalog: every recording indexed on this machine is
/// written to PostgreSQL, in the order it was queued. While PostgreSQL cannot be reached, recording goes on
/// and the outbox grows; it is drained when it comes back (with backoff from 1 s up to 30 s). A row leaves
/// the outbox only after its upsert committed, and upserts are idempotent: nothing is lost, nothing doubled.
public final class FleetSync: Sendable {
    let local: RecordingsCatalog
    let url: String
    /// A client whose connections failed is replaced: PostgresNIO's pool backs off for up to a minute, and a
    /// database that came back should be written at once.
    private let fleet: Mutex<FleetCatalog>
    let logger: Logger

    public init(local: RecordingsCatalog, url: String, logger: Logger) throws {
        (self.local, self.url, self.logger) = (local, url, logger)
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
            if batch.isEmpty { return written }
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
