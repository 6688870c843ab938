import Foundation
import GRDB
import Logging
import PolicyHost
import Recorder
import Synchronization
import XCTest

@testable import Catalog

/// The catalog: indexing, queries, rebuilding a missing or damaged file, migrations.
final class CatalogTests: XCTestCase {
    let logger = Fixtures.logger

    func testRebuildsFromDiskThenListsAndFilters() throws {
        let root = try Fixtures.recordingsRoot(self)
        let catalog = try RecordingsCatalog(root: root, logger: logger)  // no catalog yet: rebuilt from the manifests
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/catalog.sqlite"))
        XCTAssertEqual(try catalog.list().map(\.id), ["rec-a", "rec-b"])
        XCTAssertEqual(try catalog.list(contact: "contact-2").map(\.id), ["rec-b"])
        XCTAssertEqual(try catalog.list(participant: "carol").map(\.id), ["rec-b"])
        XCTAssertEqual(try catalog.list(participant: "bob").map(\.id), ["rec-a", "rec-b"])
        XCTAssertEqual(try catalog.list(participant: "nobody"), [])
        XCTAssertEqual(try catalog.list(since: WallClock.parse("2026-02-01T00:00:00Z")).map(\.id), ["rec-b"])
        XCTAssertEqual(try catalog.list(contact: "contact-1", since: WallClock.parse("2026-01-10T00:00:00Z")).map(\.id), ["rec-a"])

        let a = try XCTUnwrap(try catalog.recording(id: "rec-a"))
        XCTAssertEqual(a.contact, "contact-1")
        XCTAssertEqual(a.status, "finished")
        XCTAssertEqual(a.file, "originals.ctlo")
        XCTAssertTrue(a.directory.hasSuffix("/rec-a") && !a.directory.hasPrefix("/"), a.directory)
        XCTAssertEqual(a.sha256?.count, 64)
        XCTAssertEqual(a.durationSeconds ?? 0, 3, accuracy: 0.5)
        XCTAssertEqual(a.participants.map(\.id), ["alice", "bob"])
        XCTAssertEqual(a.participants.map(\.role), ["customer", "agent"])
        XCTAssertEqual(a.participants[1].leftAt ?? 0, 2.5, accuracy: 0.01)
        XCTAssertNil(try catalog.recording(id: "rec-zzz"))
        XCTAssertEqual(try catalog.manifest(id: "rec-a")?.session, "rec-a")

        // Decisions: from the manifest's timeline and from decisions.jsonl, once each.
        XCTAssertEqual(try catalog.decisions().map(\.decisionID), ["dec-1", "dec-9"])
        let decision = try XCTUnwrap(try catalog.decisions(contact: "contact-1").first)
        XCTAssertEqual(decision.answer, "accept")
        XCTAssertEqual(decision.reason, "AcceptAll: everyone is welcome")
        XCTAssertEqual(decision.plugins.map(\.verdict), ["abstain", "accept"])
        XCTAssertEqual(try catalog.decisions(contact: "contact-3").map(\.answer), ["refuse"])
    }

    func testIndexingIsIdempotentAndSeesChanges() throws {
        let root = try Fixtures.recordingsRoot(self)
        let catalog = try RecordingsCatalog(root: root, logger: logger)
        let manifest = try Fixtures.directory("rec-b", in: root) + "/manifest.json"
        try catalog.index(manifestAt: manifest)
        try catalog.index(manifestAt: manifest)
        XCTAssertEqual(try catalog.list().count, 2)
        try catalog.index(decision: Fixtures.audit(id: "dec-9", contact: "contact-3", answer: "refuse"))
        try catalog.index(decision: Fixtures.audit(id: "dec-10", contact: "contact-2"))
        XCTAssertEqual(try catalog.decisions().count, 3)

        try Fixtures.setManifestField(manifest, "contact", "contact-7")
        try catalog.index(manifestAt: manifest)
        XCTAssertEqual(try catalog.list(contact: "contact-7").map(\.id), ["rec-b"])
        XCTAssertEqual(try catalog.recording(id: "rec-b")?.participants.count, 2)

        XCTAssertThrowsError(try catalog.index(manifestAt: root + "/nowhere/manifest.json")) { error in
            XCTAssertEqual((error as? CatalogError)?.problem, "manifest missing")
        }
    }

    func testANewManifestIsPickedUpByReaders() throws {
        let root = try Fixtures.recordingsRoot(self)
        let b = try Fixtures.directory("rec-b", in: root)
        let aside = root + "/../rec-b-aside"
        try FileManager.default.moveItem(atPath: b, toPath: aside)
        let catalog = try RecordingsCatalog(root: root, logger: logger)
        XCTAssertEqual(try catalog.list().map(\.id), ["rec-a"])
        try FileManager.default.moveItem(atPath: aside, toPath: b)
        XCTAssertEqual(try catalog.indexNewManifests().indexed, 1)
        XCTAssertEqual(try catalog.list().map(\.id), ["rec-a", "rec-b"])
        XCTAssertEqual(try catalog.indexNewManifests().indexed, 0)
    }

    func testMigrationsRunOnAFreshFile() throws {
        let root = try temporaryDirectoryPath()
        let catalog = try RecordingsCatalog(root: root, logger: logger)
        XCTAssertEqual(try catalog.list(), [])
        let database = try DatabaseQueue(path: catalog.databasePath)
        try database.read { db in
            XCTAssertEqual(try CatalogSchema.migrator.appliedIdentifiers(db), ["v1: recordings, participants, decisions", "v2: fleet outbox"])
            XCTAssertTrue(try CatalogSchema.migrator.hasCompletedMigrations(db))
            XCTAssertNoThrow(try CatalogSchema.check(db))
        }
    }

    func testACatalogFromANewerVersionIsKept() throws {
        let root = try Fixtures.recordingsRoot(self)
        let first = try RecordingsCatalog(root: root, logger: logger)
        try first.index(decision: Fixtures.audit(id: "dec-only-in-the-catalog", contact: "contact-5"))
        let database = try DatabaseQueue(path: first.databasePath)
        try database.write { db in try db.execute(sql: "INSERT INTO grdb_migrations VALUES ('v99: from the future')") }
        try database.close()
        let reopened = try RecordingsCatalog(root: root, logger: logger)
        XCTAssertEqual(try reopened.decisions(contact: "contact-5").count, 1, "not rebuilt")
    }

    func testDeletedCatalogIsRebuilt() throws {
        let root = try Fixtures.recordingsRoot(self)
        _ = try RecordingsCatalog(root: root, logger: logger)
        try FileManager.default.removeItem(atPath: root + "/catalog.sqlite")
        let reopened = try RecordingsCatalog(root: root, logger: logger)
        XCTAssertEqual(try reopened.list().map(\.id), ["rec-a", "rec-b"])
        XCTAssertEqual(try reopened.decisions().count, 2)
    }

    func testGarbageCatalogIsRebuilt() throws {
        let root = try Fixtures.recordingsRoot(self)
        try Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }).write(to: URL(fileURLWithPath: root + "/catalog.sqlite"))
        let catalog = try RecordingsCatalog(root: root, logger: logger)
        XCTAssertEqual(try catalog.list().map(\.id), ["rec-a", "rec-b"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/catalog.sqlite.damaged"), "the damaged file is kept aside")
    }

    func testCatalogWithTheWrongSchemaIsRebuilt() throws {
        let root = try Fixtures.recordingsRoot(self)
        let other = try DatabaseQueue(path: root + "/catalog.sqlite")
        try other.write { db in try db.execute(sql: "CREATE TABLE recordings (name TEXT); INSERT INTO recordings VALUES ('x')") }
        try other.close()
        let catalog = try RecordingsCatalog(root: root, logger: logger)
        XCTAssertEqual(try catalog.list().map(\.id), ["rec-a", "rec-b"])
    }

    func testWritersInSeveralConnectionsWaitForEachOther() throws {
        let root = try Fixtures.recordingsRoot(self)
        let catalogs = try (0..<2).map { _ in try RecordingsCatalog(root: root, logger: logger) }  // as two processes would
        let manifests = try ["rec-a", "rec-b"].map { try Fixtures.directory($0, in: root) + "/manifest.json" }
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 16) { index in
            do {
                try catalogs[index % 2].index(manifestAt: manifests[index / 2 % 2])
                try catalogs[(index + 1) % 2].index(decision: Fixtures.audit(id: "dec-\(100 + index)", contact: "contact-4"))
            } catch { failures.withLock { $0.append("\(error)") } }
        }
        XCTAssertEqual(failures.withLock { $0 }, [])
        XCTAssertEqual(try catalogs[0].list().map(\.id), ["rec-a", "rec-b"])
        XCTAssertEqual(try catalogs[1].decisions(contact: "contact-4").count, 16)
    }

    func testTheRecorderMayCreateTheRoot() throws {
        let root = try temporaryDirectoryPath() + "/new/Recordings"
        let catalog = try RecordingsCatalog(root: root, creatingRoot: true, logger: logger)
        XCTAssertEqual(try catalog.list(), [])
    }

    func testMissingRootIsAnError() {
        XCTAssertThrowsError(try RecordingsCatalog(root: "/nonexistent/Recordings", logger: logger)) { error in
            XCTAssertEqual("\(error)", "/nonexistent/Recordings: no recordings directory here")
        }
    }

    func testTimelineInWords() throws {
        let root = try Fixtures.recordingsRoot(self)
        let catalog = try RecordingsCatalog(root: root, logger: logger)
        let lines = Timeline(manifest: try XCTUnwrap(try catalog.manifest(id: "rec-a"))).lines
        let text = lines.joined(separator: "\n")
        XCTAssertTrue(text.contains("00:00.0  join      Alice joins (customer, alice)"), text)
        XCTAssertTrue(text.contains("00:00.0  request   Alice (alice) asks for audio + video (request req-1)"), text)
        XCTAssertTrue(text.contains("00:00.1  decision  policy says accept (chain default): AcceptAll: everyone is welcome"), text)
        XCTAssertTrue(text.contains("BusinessHours: abstain — no hours configured"), text)
        XCTAssertTrue(text.contains("00:00.2  answer    accepted by Bob (bob) automatically: AcceptAll: everyone is welcome"), text)
        XCTAssertTrue(text.contains("00:01.5  chat      Alice (alice): can you see me?"), text)
        XCTAssertTrue(text.contains("00:02.5  leave     Bob (bob) leaves"), text)
        XCTAssertEqual(Timeline.clock(65.34), "01:05.3")
    }

    private func temporaryDirectoryPath() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("catalog-\(UUID())").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }
}
