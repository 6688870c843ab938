import CTLive
import Evidence
import Foundation
import ObjectStore
import SessionKit
import Spool
import TestKit
import XCTest

/// Two recorder bots, one bucket, one PostgreSQL catalog: sessions spread over both, one bot killed mid-session
/// and started again, the store down for 30 s and PostgreSQL restarted in the middle. Every recording ends up in
/// the bucket and in the catalog, and verifies from the store alone; the catalog's chain checkpoints and locations
/// catch a chain cut in the store and a recording deleted from it.
final class FleetTests: XCTestCase {
    /// A `ctlive bot` process with object storage, SIGKILL-able and started again on the same folder.
    final class StoringBot {
        let root: String
        let process: KillableProcess

        init(id: String, hub: String, root: String, key: String, store: SeaweedFS, credentials: String, catalog: String) throws {
            self.root = root
            process = try KillableProcess(arguments: [
                "bot", "--id", id, "--hub", hub, "--recordings", root, "--size", "320x180", "--fps", "15", "--composite", "live",
                "--signing-key", key, "--storage", "s3://fleet/site-a", "--s3-endpoint", store.endpoint.absoluteString,
                "--s3-credentials", credentials, "--catalog", catalog, "--log-level", "info"], log: root + ".log")
        }

        func start() throws { try process.start() }
        func kill() { process.kill() }

        /// Recording folders under its root (every part), and whether the store holds each whole.
        var recordings: [(directory: String, stored: Bool)] {
            (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).filter { $0.hasSuffix("/manifest.json") }.sorted().map {
                let directory = root + "/" + ($0 as NSString).deletingLastPathComponent
                return (directory, StorageRecord.read(directory: directory)?.isStored == true)
            }
        }
    }

    func testTwoBotsOneBucketOneCatalogThroughOutagesAndAKilledBot() async throws {
        let directory = try temporaryDirectory(self)
        let store = try SeaweedFS(self)
        try await store.start()
        let credentials = directory + "/s3.credentials"
        try "AWS_ACCESS_KEY_ID=\(store.credentials.accessKey)\nAWS_SECRET_ACCESS_KEY=\(store.credentials.secretKey)\n"
            .write(toFile: credentials, atomically: true, encoding: .utf8)
        var keys: [SigningKey] = []
        for name in ["a", "b"] {
            let key = SigningKey.generate()
            try key.write(to: directory + "/bot-\(name).key")
            keys.append(key)
        }
        let postgres = try PostgresServer(self)
        let session = try LiveSession()
        let bots = try ["a", "b"].map { name in
            try StoringBot(id: "rec-\(name)", hub: session.endpoint, root: directory + "/bot-\(name)", key: directory + "/bot-\(name).key", store: store,
                           credentials: credentials, catalog: postgres.url)
        }
        let agent = try await session.acceptingAgent("A1", color: "red", tone: 660)
        try await Task.sleep(for: .seconds(2))  // both bots joined

        var (customers, contacts): ([CTLiveClient], [Contact]) = ([], [])
        for index in 1...4 {
            let customer = try await session.participant(.customer, "C\(index)", color: "blue", tone: 440)
            let contact = try await customer.openContact(agent: "A1")
            try await contact.requestVideoUpgrade(divID: "videoPanel", useAudio: true, useVideo: true)
            (customers, contacts) = (customers + [customer], contacts + [contact])
        }
        try await eventually("sessions on both bots", timeout: .seconds(20)) { bots.allSatisfy { !$0.recordings.isEmpty } }

        // The store goes down for 30 s; meanwhile bot b is killed and started again, and the sessions end.
        store.stop()
        postgres.stop()
        try await Task.sleep(for: .seconds(3))
        bots[1].kill()
        try await Task.sleep(for: .seconds(2))
        try bots[1].start()
        try await Task.sleep(for: .seconds(5))
        for contact in contacts { try await contact.videoDisconnectAndDestruct() }
        try await Task.sleep(for: .seconds(5))
        try postgres.start()  // back after 15 s; the store after 30
        try await Task.sleep(for: .seconds(15))
        XCTAssertTrue(bots.flatMap(\.recordings).allSatisfy { !$0.stored }, "nothing is stored while the store is down")
        XCTAssertTrue(bots.flatMap(\.recordings).allSatisfy { FileManager.default.fileExists(atPath: $0.directory + "/originals.ctlo") },
                      "and every local copy stays")
        try await store.start()

        // Stored, and the spools empty (a part cut by the kill keeps its originals until its composite is rendered, then goes).
        try await eventually("every recording stored and the spools empty", timeout: .seconds(120)) {
            let all = bots.flatMap(\.recordings)
            return all.count >= 4 && all.allSatisfy { $0.stored && !FileManager.default.fileExists(atPath: $0.directory + "/originals.ctlo") }
        }
        let recorded = bots.flatMap(\.recordings)

        // The fleet catalog has every part, and knows each is in the store.
        try await eventually("the catalog caught up", timeout: .seconds(60)) {
            (try? postgres.psql("SELECT count(*) FROM recordings WHERE upload_state = 'stored, local media removed'")) == String(recorded.count)
        }
        let list = try runCommand(ctliveExecutable, ["recordings", "list", "--catalog", postgres.url])
        XCTAssertEqual(list.stdout.split(separator: "\n").count, recorded.count, list.stdout)
        XCTAssertTrue(list.stdout.contains("s3://fleet/site-a/"), list.stdout)

        // From the store alone: every recording and both chains verify (the store's keys are exactly the bots').
        let elsewhere = try temporaryDirectory(self)
        let verify = try runCommand(ctliveExecutable, ["recordings", "verify", "--all", "--recordings", elsewhere, "--storage", "s3://fleet/site-a",
                                                       "--s3-endpoint", store.endpoint.absoluteString, "--s3-credentials", credentials])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr + bots.map(\.process.log).joined())
        let lines = verify.stdout.split(separator: "\n")
        XCTAssertTrue(verify.stdout.contains("interrupted at"), "the killed bot's parts were completed, signed, and stored: \(verify.stdout)")
        XCTAssertEqual(lines.filter { $0.contains(" ok") && !$0.hasPrefix("chain-") }.count, recorded.count, verify.stdout)
        XCTAssertEqual(Set(lines.filter { $0.hasPrefix("chain-") }.map { String($0.prefix(6 + 16)) }), Set(keys.map { "chain-" + $0.keyID }), verify.stdout)
        let client = S3Client(endpoint: store.endpoint, credentials: store.credentials)
        let storedKeys = try await client.listObjects(bucket: "fleet", prefix: "site-a/keys/").map(\.key)
        XCTAssertEqual(Set(storedKeys), Set(keys.map { "site-a/keys/\($0.keyID).pub" }))

        // Each bot's chain head is checkpointed in the catalog, up to its last entry in the store (never ahead of it).
        let chainCopy = elsewhere + "/chain.jsonl"
        var checkpointed: [String] = [], inStore: [String] = []
        for _ in 0..<90 {
            (checkpointed, inStore) = ([], [])
            for key in keys {
                _ = try await client.getObject(bucket: "fleet", key: "site-a/chains/chain-\(key.keyID).jsonl", to: chainCopy)
                inStore.append("\(key.keyID) \(try Chain.entries(path: chainCopy).count)")
                checkpointed.append("\(key.keyID) " + (try postgres.psql("SELECT coalesce(max(seq), 0) FROM chain_checkpoints WHERE key_id = '\(key.keyID)'")))
            }
            if checkpointed == inStore { break }
            try await Task.sleep(for: .seconds(1))
        }
        XCTAssertEqual(checkpointed, inStore, "both chains checkpointed in the catalog to their last entry in the store")
        let chainA = "site-a/chains/chain-\(keys[0].keyID).jsonl"
        _ = try await client.getObject(bucket: "fleet", key: chainA, to: chainCopy)
        for bot in bots { bot.kill() }
        let storage = ["--storage", "s3://fleet/site-a", "--s3-endpoint", store.endpoint.absoluteString, "--s3-credentials", credentials]
        // One recording looked up in the catalog and fetched alone; all of them checked against the catalog, both ways.
        let someID = try postgres.psql("SELECT id FROM recordings ORDER BY id LIMIT 1")
        let one = try runCommand(ctliveExecutable, ["recordings", "verify", someID, "--catalog", postgres.url, "--recordings", try temporaryDirectory(self)] + storage)
        XCTAssertEqual(one.status, 0, one.stdout + one.stderr)
        XCTAssertTrue(one.stdout.contains(someID + " ok"), "\(someID): \(one.stdout)")
        let whole = try runCommand(ctliveExecutable, ["recordings", "verify", "--all", "--catalog", postgres.url, "--recordings", try temporaryDirectory(self)] + storage)
        XCTAssertEqual(whole.status, 0, whole.stdout + whole.stderr)
        XCTAssertTrue(whole.stdout.contains("fleet catalog checkpoints ok"), whole.stdout)

        // Someone cuts bot a's chain in the store by its last entry, and deletes one recording's manifest: the catalog names both.
        let chainLines = try String(contentsOfFile: chainCopy, encoding: .utf8).split(separator: "\n")
        try await client.putObject(bucket: "fleet", key: chainA, body: Data((chainLines.dropLast().joined(separator: "\n") + "\n").utf8))
        let victim = try postgres.psql("SELECT object_key FROM stored_files WHERE name = 'manifest.json' AND recording_id = '\(someID)'")
        try await client.deleteObject(bucket: "fleet", key: victim)
        let tampered = try runCommand(ctliveExecutable, ["recordings", "verify", "--all", "--catalog", postgres.url, "--recordings", try temporaryDirectory(self)] + storage)
        XCTAssertNotEqual(tampered.status, 0, tampered.stdout)
        XCTAssertTrue(tampered.stdout.contains("chain-\(keys[0].keyID) is cut: it ends at entry \(chainLines.count - 1)"), tampered.stdout)
        XCTAssertTrue(tampered.stdout.contains("\(someID): the fleet catalog has manifest.json at \(victim), the store does not"), tampered.stdout)
        withExtendedLifetime((agent, customers)) {}
    }
}
