import ArgumentParser
import Catalog
import FleetCatalog
import Foundation
import Logging

/// `ctlive recordings sync --catalog postgres://…`: writes every recording of a recordings folder into the fleet
/// catalog, as a bot's outbox does in the background: for a machine that recorded before it had `--catalog`, or
/// to write again what the fleet catalog lost. Idempotent: a recording written twice changes nothing.
struct RecordingsSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Write every recording of the recordings folder into the fleet catalog (PostgreSQL): idempotent upserts through the local outbox.")

    @OptionGroup var root: RecordingsRootOptions

    func validate() throws {
        guard root.catalog != nil else { throw ValidationError("sync needs --catalog postgres://USER@HOST:PORT/DB") }
    }

    func run() async throws {
        let (catalog, _) = try root.openCatalog()
        let sync: FleetSync
        do {
            for recording in try catalog.list() { try catalog.enqueueForFleet(directory: recording.directory) }
            sync = try FleetSync(local: catalog, url: root.catalog!, logger: LogSetup.logger("ctlive.fleet", level: .warning))
        } catch { throw CommandFailure.exit("\(error)") }
        let started = ContinuousClock.now
        let written: Int
        do { written = try await sync.drain() } catch {
            throw CommandFailure.exit("not every recording reached the fleet catalog (those that did not stay in the outbox; run sync again): \(String(reflecting: error))")
        }
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        print("\(written) recordings written to the fleet catalog in \(String(format: "%.2f", seconds)) s (\(String(format: "%.0f", Double(written) / max(seconds, 1e-6))) a second)")
    }
}
