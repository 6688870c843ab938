import Foundation
import PolicyHost
import TestKit
import XCTest

/// `ctlive plugins list|inspect` and `ctlive policy test`, run as child processes of the built tool.
final class CommandTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = try Fixtures.temporaryDirectory()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func ctlive(_ arguments: [String]) throws -> CommandRun { try runCommand(ctliveExecutable, arguments) }

    func testInspectShowsMetadataAndHash() throws {
        let path = Fixtures.library("CWeekdayGate")
        let result = try ctlive(["plugins", "inspect", path, "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        XCTAssertEqual((object["metadata"] as? [String: Any])?["id"] as? String, "com.ctlive.policy.c-weekday-gate")
        XCTAssertEqual(object["abi"] as? String, "1.0")
        XCTAssertEqual(object["sha256"] as? String, try PluginLibrary.fileSHA256(path))
    }

    func testInspectReportsLoadErrors() throws {
        let text = "\(directory)/libNotAPlugin.so"
        try "hello".write(toFile: text, atomically: true, encoding: .utf8)
        let result = try ctlive(["plugins", "inspect", text])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("libNotAPlugin.so: not a shared library: no ELF header"), result.stderr)
        XCTAssertTrue(result.stdout.contains("sha256:"), result.stdout)
    }

    func testListShowsGoodAndBadPlugins() throws {
        try Fixtures.compileTestPlugin("libGood.so", in: directory)
        try Fixtures.compileTestPlugin("libOld.so", in: directory, defines: ["ABI_MAJOR=0", #"PLUGIN_ID="com.test.old""#])
        let result = try ctlive(["plugins", "list", directory])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("ok     com.test.misbehave 0.1.0"), result.stdout)
        XCTAssertTrue(result.stdout.contains("libOld.so: ABI mismatch: plugin ABI 0.0, host ABI 1.0"), result.stdout)
    }

    func testPolicyTestPrintsTheAuditRecord() throws {
        let policy = try Fixtures.writePolicy(EngineTests.issuePolicy, in: directory)
        for (time, answer) in [("2026-11-27T10:00:00Z", "accept"), ("2026-11-27T20:00:00Z", "refuse")] {
            let request = "\(directory)/request.json"
            try """
                {"contactID":"c-1","customer":{"id":"cust-1"},"agent":{"id":"A1"},
                 "request":{"useAudio":true,"useVideo":true},"time":{"utc":"\(time)","agentLocal":"\(time)"}}
                """.write(toFile: request, atomically: true, encoding: .utf8)
            let result = try ctlive(["policy", "test", "--policy", policy, "--request", request, "--plugins", Fixtures.buildDirectory])
            XCTAssertEqual(result.status, 0, result.stderr)
            let record = try JSONDecoder().decode(AuditRecord.self, from: Data(result.stdout.utf8))
            XCTAssertEqual(record.answer.rawValue, answer)
            XCTAssertEqual(record.chain, "agents.A1")
            XCTAssertEqual(record.isolation, "process")
            XCTAssertEqual(record.plugins.first?.id, "com.ctlive.policy.business-hours")
        }
    }

    func testPolicyTestReportsABadPolicy() throws {
        let policy = try Fixtures.writePolicy(#"{"default":{"chain":[{"plugin":"Nope"}]}}"#, in: directory)
        let request = "\(directory)/request.json"
        try #"{"contactID":"c","customer":{"id":"x"},"agent":{"id":"A"},"request":{"useAudio":true,"useVideo":false}}"#
            .write(toFile: request, atomically: true, encoding: .utf8)
        let result = try ctlive(["policy", "test", "--policy", policy, "--request", request])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("no plugin 'Nope'"), result.stderr)
    }
}
