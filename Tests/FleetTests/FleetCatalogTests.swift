import Catalog
import Evidence
import FleetCatalog
import Foundation
import Logging
import Media
import ObjectStore
import Recorder
import SessionKit
import Spool
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
        XCTAssertEqual(applied.flatMap { $0 }, [1, 2], "one of them applied migrations 1 and 2, the other nothing")
        XCTAssertEqual(try postgres.psql("SELECT count(*) FROM ctlive_migrations"), "2")

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
        // The timeline as the manifest has it, in order, times exact.
        let manifest = try ManifestFile.read(root + "/" + XCTUnwrap(local.recording(id: "k2")).directory + "/manifest.json")
        XCTAssertGreaterThan(manifest.events.count, 0)
        XCTAssertEqual(try postgres.psql("SELECT string_agg(kind, ',' ORDER BY position) FROM timeline_events WHERE recording_id = 'k2'"),
                       manifest.events.map(\.kind).joined(separator: ","))
        let times = try postgres.psql("SELECT string_agg(coalesce(at::text, '-'), ',' ORDER BY position) FROM timeline_events WHERE recording_id = 'k2'")
        XCTAssertEqual(times.split(separator: ",").map { Double($0) }, manifest.events.map(\.time), "times exact")
        let joined = try postgres.psql("SELECT joined_at || ',' || coalesce(left_at::text, '-') FROM participants WHERE recording_id = 'k2'")
        XCTAssertEqual(joined.split(separator: ",").map { Double($0) }, manifest.participants.flatMap { [$0.joinedAt, $0.leftAt] })

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

/// Deferred composites rendered anywhere: a job in PostgreSQL, taken by a `ctlive render-worker` that is killed
/// while rendering, then retried by a recorder bot with headroom once the first stopped renewing it.
final class RenderJobTests: XCTestCase {
    let logger = Logger(label: "test.render-jobs")

    func testARenderJobWhoseWorkerIsKilledIsRetriedByABotAndTheCompositeLandsInTheStore() async throws {
        let directory = try temporaryDirectory(self)
        let root = directory + "/Recordings"
        let keyPath = directory + "/bot.key"
        let key = SigningKey.generate()
        try key.write(to: keyPath)
        try FileManager.default.createDirectory(atPath: root + "/keys", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: keyPath + ".pub", toPath: root + "/keys/\(key.keyID).pub")
        // A recording whose composite (1280x720) is deferred: a render of a few seconds.
        let clip = directory + "/clip.mp4"
        let ffmpeg = try runCommand("/usr/bin/ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=8",
                                                        "-f", "lavfi", "-i", "sine=frequency=440:duration=8", "-c:v", "libx264", "-preset", "ultrafast",
                                                        "-c:a", "aac", "-shortest", clip])
        XCTAssertEqual(ffmpeg.status, 0, ffmpeg.stderr)
        var configuration = RecordingConfiguration(root: root, sessionID: "r1", contactID: "contact-1", layout: .grid)
        configuration.composite = .after
        configuration.signingKey = keyPath
        let recording = try LiveRecording(configuration: configuration, logger: logger)
        let source = try FileSource(path: clip)
        recording.participantJoined(id: "alice", name: "Alice", role: "customer", colorHint: red)
        for (index, track) in source.tracks.enumerated() { recording.trackAnnounced(participantID: "alice", trackID: "t\(index)", parameters: track) }
        while let (track, packet) = try source.nextPacket() { recording.receive(participantID: "alice", trackID: "t\(track)", packet: packet) }
        let result = try recording.finish()
        XCTAssertEqual(result.composite.state, "queued")

        // In the store, and in the fleet catalog with a render job.
        let store = try SeaweedFS(self)
        try await store.start()
        let postgres = try PostgresServer(self)
        let client = S3Client(endpoint: store.endpoint, credentials: store.credentials)
        try await client.createBucket("fleet")
        let uploader = RecordingUploader(root: root, store: client, location: StorageLocation(bucket: "fleet", prefix: "site-r"), keepLocal: true, logger: logger)
        try await uploader.pass()
        let local = try RecordingsCatalog(root: root, creatingRoot: true, logger: logger)
        try local.index(manifestAt: result.manifestPath)
        try await FleetSync(local: local, url: postgres.url, logger: logger).drain()
        XCTAssertEqual(try postgres.psql("SELECT state FROM render_jobs WHERE recording_id = 'r1'"), "queued")

        let credentials = directory + "/s3.credentials"
        try "AWS_ACCESS_KEY_ID=\(store.credentials.accessKey)\nAWS_SECRET_ACCESS_KEY=\(store.credentials.secretKey)\n"
            .write(toFile: credentials, atomically: true, encoding: .utf8)
        func worker(_ name: String) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: ctliveExecutable)
            process.arguments = ["render-worker", "--catalog", postgres.url, "--storage", "s3://fleet/site-r", "--s3-endpoint", store.endpoint.absoluteString,
                                 "--s3-credentials", credentials, "--id", name, "--signing-key", keyPath, "--stale-after", "3", "--log-level", "error"]
            try process.run()
            return process
        }
        // The first worker is killed while its renderer runs.
        let first = try worker("worker-1")
        try await eventually("worker-1 rendering", timeout: .seconds(60)) {
            (try? runCommand("/usr/bin/pgrep", ["-f", "render-composite --directory .*/r1"]))?.status == 0
        }
        XCTAssertEqual(try postgres.psql("SELECT taken_by FROM render_jobs WHERE recording_id = 'r1'"), "worker-1")
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        _ = try? runCommand("/usr/bin/pkill", ["-KILL", "-f", "render-composite --directory .*/r1"])

        // A recorder bot of the fleet, idle, takes it once the first stopped renewing it (after the 3 s hold the
        // first worker took it for), and finishes it.
        let hub = try LiveSession()
        let bot = Process()
        bot.executableURL = URL(fileURLWithPath: ctliveExecutable)
        bot.arguments = ["bot", "--id", "bot-r", "--hub", hub.endpoint, "--recordings", directory + "/bot-r", "--catalog", postgres.url,
                         "--storage", "s3://fleet/site-r", "--s3-endpoint", store.endpoint.absoluteString, "--s3-credentials", credentials,
                         "--signing-key", keyPath, "--log-level", "error"]
        try bot.run()
        defer { kill(bot.processIdentifier, SIGTERM); bot.waitUntilExit() }
        try await eventually("the job rendered", timeout: .seconds(120)) {
            (try? postgres.psql("SELECT state || ' ' || attempts || ' ' || taken_by FROM render_jobs WHERE recording_id = 'r1'")) == "rendered 2 bot-r"
        }
        let stored = try await client.listObjects(bucket: "fleet", prefix: "site-r/").map { ($0.key as NSString).lastPathComponent }
        XCTAssertTrue(stored.contains("recording.mp4") && stored.contains("composite.json"), "\(stored)")
        // The composite and its signed derivation verify from the store alone.
        let verify = try runCommand(ctliveExecutable, ["recordings", "verify", "r1", "--recordings", try temporaryDirectory(self), "--storage", "s3://fleet/site-r",
                                                       "--s3-endpoint", store.endpoint.absoluteString, "--s3-credentials", credentials,
                                                       "--public-key", keyPath + ".pub"])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        XCTAssertEqual(try postgres.psql("SELECT composite_state FROM recordings WHERE id = 'r1'"), "rendered")
    }
}
