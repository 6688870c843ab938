import Foundation
import TestKit
import XCTest

/// `ctlive recordings list|show|verify`, run as child processes of the built tool: exit codes and output.
final class CommandLineTests: XCTestCase {
    func ctlive(_ arguments: [String]) throws -> CommandRun { try runCommand(ctliveExecutable, arguments) }

    func testList() throws {
        let root = try Fixtures.recordingsRoot(self)
        let all = try ctlive(["recordings", "list", "--recordings", root])
        XCTAssertEqual(all.status, 0, all.stderr)
        let lines = all.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, all.stdout)
        XCTAssertTrue(lines[0].hasPrefix("rec-a  contact contact-1  2026-01-10T10:00:00.000Z  3."), all.stdout)
        XCTAssertTrue(lines[0].hasSuffix("Alice (customer), Bob (agent)"), all.stdout)

        let json = try ctlive(["recordings", "list", "--recordings", root, "--participant", "carol", "--json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let objects = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [[String: Any]]
        XCTAssertEqual(objects.map { $0["id"] as? String }, ["rec-b"])
        XCTAssertEqual((objects[0]["sha256"] as? String)?.count, 64)

        let since = try ctlive(["recordings", "list", "--recordings", root, "--since", "2026-01-10", "--contact", "contact-1"])
        XCTAssertEqual(since.stdout.split(separator: "\n").map { $0.prefix(5) }, ["rec-a"], since.stdout)
        let iso = try ctlive(["recordings", "list", "--recordings", root, "--since", "2026-01-10T10:00:01Z"])
        XCTAssertEqual(iso.stdout.split(separator: "\n").map { $0.prefix(5) }, ["rec-b"], iso.stdout)

        let bad = try ctlive(["recordings", "list", "--recordings", root, "--since", "last tuesday"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--since must be yyyy-mm-dd or ISO 8601"), bad.stderr)

        let nowhere = try ctlive(["recordings", "list", "--recordings", root + "/nowhere"])
        XCTAssertEqual(nowhere.status, 1)
        XCTAssertTrue(nowhere.stderr.contains("nowhere: no recordings directory here"), nowhere.stderr)
    }

    func testShow() throws {
        let root = try Fixtures.recordingsRoot(self)
        let shown = try ctlive(["recordings", "show", "rec-a", "--recordings", root])
        XCTAssertEqual(shown.status, 0, shown.stderr)
        for expected in [
            "recording rec-a  contact contact-1  finished", "Alice (customer, alice)  00:00.0 - ",
            "00:00.0  request   Alice (alice) asks for audio + video", "00:00.1  decision  policy says accept",
            "AcceptAll: accept — everyone is welcome", "00:00.2  answer    accepted by Bob (bob) automatically: AcceptAll: everyone is welcome",
            "00:01.5  chat      Alice (alice): can you see me?", "00:02.5  leave     Bob (bob) leaves",
        ] {
            XCTAssertTrue(shown.stdout.contains(expected), "missing '\(expected)' in\n\(shown.stdout)")
        }
        let json = try ctlive(["recordings", "show", "rec-a", "--recordings", root, "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [String: Any]
        XCTAssertEqual((object["timeline"] as? [[String: Any]])?.contains { $0["kind"] as? String == "chat" }, true)

        let unknown = try ctlive(["recordings", "show", "rec-zzz", "--recordings", root])
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.stderr.contains("no recording rec-zzz in"), unknown.stderr)
    }

    func testVerify() throws {
        let root = try Fixtures.recordingsRoot(self)
        let good = try ctlive(["recordings", "verify", "--all", "--recordings", root])
        XCTAssertEqual(good.status, 0, good.stdout + good.stderr)
        XCTAssertEqual(good.stdout, "rec-a ok\nrec-b ok\n")
        XCTAssertEqual(try ctlive(["recordings", "verify", "rec-b", "--recordings", root]).stdout, "rec-b ok\n")

        try Fixtures.flipByte(try Fixtures.directory("rec-b", in: root) + "/originals.ctlo", at: 0.7)
        let altered = try ctlive(["recordings", "verify", "--all", "--recordings", root])
        XCTAssertEqual(altered.status, 1)
        let lines = altered.stdout.split(separator: "\n")
        XCTAssertEqual(lines.first, "rec-a ok")
        XCTAssertTrue(lines.last?.hasPrefix("rec-b FAILED: hash mismatch: ") == true, altered.stdout)

        let unknown = try ctlive(["recordings", "verify", "rec-zzz", "--recordings", root])
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.stdout.hasPrefix("rec-zzz FAILED: no recording rec-zzz"), unknown.stdout)

        let neither = try ctlive(["recordings", "verify", "--recordings", root])
        XCTAssertNotEqual(neither.status, 0)
        XCTAssertTrue(neither.stderr.contains("give a recording id or --all"), neither.stderr)
    }

    func testVerifyAllReportsAnUnreadableManifestNobodyIndexed() throws {
        let root = try Fixtures.recordingsRoot(self)
        try FileManager.default.createDirectory(atPath: root + "/2026-01-01/broken", withIntermediateDirectories: true)
        try "{ not json".write(toFile: root + "/2026-01-01/broken/manifest.json", atomically: true, encoding: .utf8)
        let run = try ctlive(["recordings", "verify", "--all", "--recordings", root])
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stdout.contains("2026-01-01/broken FAILED: ") && run.stdout.contains("manifest unreadable: not a recording manifest (not JSON)"), run.stdout)
    }
}
