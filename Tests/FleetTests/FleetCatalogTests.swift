import Catalog
import Evidence
import FleetCatalog
import Foundation
import Logging
import Media
import Recorder
import TestKit
import XCTest

/// The fleet catalog in a real PostgreSQL: one schema migrated once, recordings written through the local
/// outbox with idempotent upserts, a database restarted while recordings go on, and `ctlive recordings
/// list|show --catalog` reading it.
final class FleetCatalogTests: XCTestCase {
    let logger = Logger(label: "test.fleet-catalog")
    var root = ""

    override func setUpWithError() throws {
        root = try temporaryDirectory(self) + "/Recordings"
    }

    private func record(_ session: String, contact: String = "contact-1") throws -> RecordingResult {
        var configuration = RecordingConfiguration(root: root, sessionID: session, contactID: contact, layout: .grid)
        (configuration.width, configuration.height, configuration.fps, configuration.preset) = (320, 180, 15, "ultrafast")
        configuration.composite = .onDemand
        let recording = try LiveRecording(configuration: configuration, logger: logger)
        let source = try TestSource(color: red, toneHz: 440, width: 160, height: 90, fps: 15, durationSeconds: 1)
        recording.participantJoined(id: "alice", name: "Alice", role: "customer", colorHint: red)
        for (index, track) in source.tracks.enumerated() { recording.trackAnnounced(participantID: "alice", trackID: "t\(index)", parameters: track) }
        while let (track, packet) = try source.nextPacket() { recording.receive(participantID: "alice", trackID: "t\(track)", packet: packet) }
        return try recording.finish()
    }

    func testTheSchemaMigratesOnceAndRecordingsReachItThroughTheOutboxThroughARestart() async throws {
        let postgres = try PostgresServer(self)
        // Two bots starting together: the schema is made once.
        let fleet = try FleetCatalog(url: postgres.url, logger: logger)
        let other = try FleetCatalog(url: postgres.url, logger: logger)
        async let first = fleet.migrate()
        async let second = other.migrate()
        let applied = try await [first, second]
        XCTAssertEqual(applied.flatMap { $0 }, [1], "one of them applied migration 1, the other nothing")
        XCTAssertEqual(try postgres.psql("SELECT count(*) FROM ctlive_migrations"), "1")

        let local = try RecordingsCatalog(root: root, creatingRoot: true, logger: logger)
        for id in ["k1", "k2"] { try local.index(manifestAt: try record(id).manifestPath) }
        XCTAssertEqual(try local.fleetOutbox().count, 2, "indexed here, queued for the fleet")
        let sync = try FleetSync(local: local, url: postgres.url, logger: logger)
        let written = try await sync.drain()
        XCTAssertEqual(written, 2)
        XCTAssertEqual(try local.fleetOutbox().count, 0)
        // Again, and queued again: upserts, nothing doubled.
        try local.enqueueForFleet(directory: try XCTUnwrap(local.recording(id: "k1")).directory)
        let again = try await sync.drain()
        XCTAssertEqual(again, 1)
        XCTAssertEqual(try postgres.psql("SELECT count(*) FROM recordings"), "2")
        XCTAssertEqual(try postgres.psql("SELECT count(*) FROM participants WHERE recording_id = 'k1'"), "1")
        XCTAssertEqual(try postgres.psql("SELECT name || ' ' || role FROM participants WHERE recording_id = 'k2'"), "Alice customer")
        XCTAssertGreaterThan(Int(try postgres.psql("SELECT count(*) FROM timeline_events WHERE recording_id = 'k2'")) ?? 0, 0)

        // The database restarts while recordings go on: they wait in the outbox, then catch up.
        postgres.stop()
        try local.index(manifestAt: try record("k3", contact: "contact-2").manifestPath)
        do { try await sync.drain(); XCTFail("a drain with the database down succeeded") } catch {}
        XCTAssertEqual(try local.fleetOutbox().map(\.directory).count, 1, "k3 waits in the outbox")
        try postgres.start()
        var caughtUp = false
        for _ in 0..<30 where !caughtUp {
            caughtUp = (try? await sync.drain()) == 1
            if !caughtUp { try await Task.sleep(for: .milliseconds(200)) }
        }
        XCTAssertTrue(caughtUp, "the outbox drained once the database was back")
        XCTAssertEqual(try postgres.psql("SELECT string_agg(id, ',' ORDER BY id) FROM recordings"), "k1,k2,k3")

        // The command line reads it.
        let list = try runCommand(ctliveExecutable, ["recordings", "list", "--catalog", postgres.url, "--recordings", root])
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertEqual(list.stdout.split(separator: "\n").map { String($0.prefix(2)) }, ["k3", "k2", "k1"], "newest first: \(list.stdout)")
        XCTAssertTrue(list.stdout.contains("Alice (customer)"), list.stdout)
        let contact = try runCommand(ctliveExecutable, ["recordings", "list", "--catalog", postgres.url, "--contact", "contact-2"])
        XCTAssertEqual(contact.stdout.split(separator: "\n").count, 1, contact.stdout)
        let show = try runCommand(ctliveExecutable, ["recordings", "show", "k2", "--catalog", postgres.url])
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertTrue(show.stdout.contains("recording k2  contact contact-1  finished"), show.stdout)
        XCTAssertTrue(show.stdout.contains("stored    local"), show.stdout)
        let missing = try runCommand(ctliveExecutable, ["recordings", "show", "nope", "--catalog", postgres.url])
        XCTAssertNotEqual(missing.status, 0)
        let unreachable = try runCommand(ctliveExecutable, ["recordings", "list", "--catalog", "postgres://ctlive@127.0.0.1:\(try freePort())/postgres"])
        XCTAssertNotEqual(unreachable.status, 0)
        XCTAssertTrue(unreachable.stderr.contains("cannot use the fleet catalog"), unreachable.stderr)
    }
}
