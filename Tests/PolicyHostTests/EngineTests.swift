import Foundation
import PolicyHost
import PolicyKit
import XCTest

/// The policy file, the chain, the all-abstain rule, fail modes, deadline, audit and reload.
final class EngineTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = try Fixtures.temporaryDirectory()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The policy of issue 4, item 4, exactly as written there.
    static let issuePolicy = """
        {
          "agents":  { "A1": { "chain": [ { "plugin": "BusinessHours",
                                            "config": { "timeZone": "UTC",
                                                        "windows": [ { "days": ["mon","tue","wed","thu","fri"],
                                                                       "from": "09:00", "to": "17:00" } ] } } ] } },
          "default": { "chain": [ { "plugin": "AcceptAll" } ] },
          "deadlineMs": 100,
          "isolation": "process",
          "failMode": "closed"
        }
        """

    func testIssuePolicyIsAcceptedAsItStands() async throws {
        let policy = try PolicyFile.parse(Data(Self.issuePolicy.utf8))
        XCTAssertEqual(policy.agents?["A1"]?.chain.first?.plugin, "BusinessHours")
        XCTAssertEqual(policy.effectiveIsolation, .process)
        XCTAssertEqual(policy.effectiveFailMode, .closed)
        XCTAssertEqual(policy.effectiveDeadlineMs, 100)

        let engine = try Fixtures.engine(policy: try Fixtures.writePolicy(Self.issuePolicy, in: directory))
        XCTAssertEqual(engine.delegatedAgents, ["A1"])
        let inside = await engine.decide(Fixtures.context(agent: "A1", utc: "2026-11-27T10:00:00Z"))
        XCTAssertEqual(inside.answer, .accept)
        XCTAssertEqual(inside.audit.chain, "agents.A1")
        let outside = await engine.decide(Fixtures.context(agent: "A1", utc: "2026-11-27T20:00:00Z"))
        XCTAssertEqual(outside.answer, .refuse)
        XCTAssertTrue(outside.reason.contains("outside business hours"), outside.reason)
        let other = await engine.decide(Fixtures.context(agent: "B7", utc: "2026-11-27T20:00:00Z"))
        XCTAssertEqual(other.answer, .accept)
        XCTAssertEqual(other.audit.chain, "default")
    }

    func testDefaultsAndValidation() throws {
        let minimal = try PolicyFile.parse(Data(#"{"default":{"chain":[]}}"#.utf8))
        XCTAssertEqual(minimal.effectiveDeadlineMs, 100)
        XCTAssertEqual(minimal.effectiveIsolation, .process)
        XCTAssertEqual(minimal.effectiveFailMode, .closed)
        XCTAssertEqual(minimal.effectiveWhenAllAbstain, .askAgent)
        let bad: [(String, String)] = [
            (#"{"isolation":"thread"}"#, "isolation"),
            (#"{"failMode":"sideways"}"#, "failMode"),
            (#"{"deadlineMs":0}"#, "deadlineMs must be between 1 and 60000"),
            (#"{"default":{"chain":[{"config":{}}]}}"#, "missing key 'plugin'"),
            (#"{"default":{"chain":[{"plugin":"AcceptAll","config":[1]}]}}"#, "default.chain[0].config must be an object"),
            ("{ not json", "invalid policy"),
        ]
        for (text, expected) in bad {
            XCTAssertThrowsError(try PolicyFile.parse(Data(text.utf8), path: "p.json"), text) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(error) should mention \(expected)")
                XCTAssertTrue("\(error)".hasPrefix("p.json: invalid policy"), "\(error)")
            }
        }
    }

    func testUnknownKeysAreFound() {
        let text = #"{ "agent": {}, "agents": { "A1": { "chian": [], "chain": [ { "plugin": "X", "configs": {} } ] } }, "default": { "chain": [] } }"#
        XCTAssertEqual(PolicyFile.unknownKeys(in: Data(text.utf8)), ["agent", "agents.A1.chian", "agents.A1.chain[0].configs"])
        XCTAssertEqual(PolicyFile.unknownKeys(in: Data(Self.issuePolicy.utf8)), [])
    }

    func testChainSelectionAgentThenQueueThenDefault() async throws {
        let path = try Fixtures.writePolicy(
            """
            { "agents": { "A1": { "chain": [ { "plugin": "AudioOnly" } ] } },
              "queues": { "vip": { "chain": [ { "plugin": "AcceptAll", "config": { "reason": "vip queue" } } ] } },
              "default": { "chain": [ { "plugin": "RecordingRequired" } ] },
              "isolation": "none" }
            """, in: directory)
        let engine = try Fixtures.engine(policy: path)
        let agent = await engine.decide(Fixtures.context(queue: "vip", agent: "A1"))
        XCTAssertEqual(agent.audit.chain, "agents.A1")
        XCTAssertEqual(agent.answer, .refuse)
        let queue = await engine.decide(Fixtures.context(queue: "vip", agent: "A2"))
        XCTAssertEqual(queue.audit.chain, "queues.vip")
        XCTAssertEqual(queue.reason, "AcceptAll: vip queue")
        let fallback = await engine.decide(Fixtures.context(queue: "other", agent: "A2", recordersIdle: 0))
        XCTAssertEqual(fallback.audit.chain, "default")
        XCTAssertEqual(fallback.answer, .refuse)
    }

    func testFirstNonAbstainWinsAndLaterPluginsAreNotConsulted() async throws {
        let path = try Fixtures.writePolicy(
            """
            { "default": { "chain": [
                { "plugin": "CapacityLimit", "config": { "maxVideoSessions": 2 } },
                { "plugin": "com.ctlive.policy.recording-required" },
                { "plugin": "AudioOnly" },
                { "plugin": "AcceptAll" } ] },
              "isolation": "none" }
            """, in: directory)
        let engine = try Fixtures.engine(policy: path)
        let decision = await engine.decide(Fixtures.context(activeVideoSessions: 0, useVideo: false, recordersIdle: 1))
        XCTAssertEqual(decision.answer, .accept)
        XCTAssertEqual(decision.audit.plugins.map(\.verdict), ["abstain", "abstain", "abstain", "accept"])
        let refused = await engine.decide(Fixtures.context(activeVideoSessions: 0, recordersIdle: 0))
        XCTAssertEqual(refused.answer, .refuse)
        XCTAssertEqual(refused.audit.plugins.map(\.id), ["com.ctlive.policy.capacity-limit", "com.ctlive.policy.recording-required"])
        XCTAssertFalse(refused.audit.fallbackUsed)
    }

    func testAllAbstain() async throws {
        let path = try Fixtures.writePolicy(
            #"{ "agents": { "A1": { "chain": [ { "plugin": "RecordingRequired" } ] } }, "isolation": "none" }"#, in: directory)
        let engine = try Fixtures.engine(policy: path)
        let connected = await engine.decide(Fixtures.context(agent: "A1", agentConnected: true))
        XCTAssertEqual(connected.answer, .askAgent)
        XCTAssertEqual(connected.reason, "no plugin decided; asking agent A1")
        let away = await engine.decide(Fixtures.context(agent: "A1", agentConnected: false))
        XCTAssertEqual(away.answer, .refuse)
        XCTAssertEqual(away.reason, "no plugin decided and agent A1 is not connected")
        let noChain = await engine.decide(Fixtures.context(agent: "Z9", agentConnected: false))
        XCTAssertEqual(noChain.answer, .refuse)
        XCTAssertEqual(noChain.audit.chain, "none")
        XCTAssertEqual(noChain.reason, "no chain applies to agent Z9 and agent Z9 is not connected")

        let refusing = try Fixtures.writePolicy(
            #"{ "default": { "chain": [ { "plugin": "RecordingRequired" } ] }, "isolation": "none", "whenAllAbstain": "refuse" }"#,
            in: directory, name: "refusing.json")
        let strict = await (try Fixtures.engine(policy: refusing)).decide(Fixtures.context(agentConnected: true))
        XCTAssertEqual(strict.answer, .refuse)
    }

    func testPluginErrorFailsClosedOrOpen() async throws {
        let plugin = try Fixtures.compileTestPlugin("libErr.so", in: directory)
        for (mode, expected) in [("closed", FinalAnswer.refuse), ("open", FinalAnswer.accept)] {
            let path = try Fixtures.writePolicy(
                """
                { "default": { "chain": [ { "plugin": "\(plugin)" }, { "plugin": "AcceptAll" } ] },
                  "isolation": "none", "failMode": "\(mode)" }
                """, in: directory, name: "\(mode).json")
            let decision = await (try Fixtures.engine(policy: path)).decide(Fixtures.context(contactID: "error"))
            XCTAssertEqual(decision.answer, expected, mode)
            XCTAssertTrue(decision.audit.fallbackUsed)
            XCTAssertEqual(decision.audit.plugins.first?.verdict, "error")
            XCTAssertEqual(decision.audit.plugins.first?.reason, "internal error in the test plugin")
            XCTAssertTrue(decision.audit.fallbackCause?.contains("internal error in the test plugin") ?? false)
        }
    }

    func testInProcessDeadlineDiscardsALateVerdict() async throws {
        let plugin = try Fixtures.compileTestPlugin("libSlow.so", in: directory)
        let path = try Fixtures.writePolicy(
            """
            { "default": { "chain": [ { "plugin": "\(plugin)", "config": { "sleepMs": 300 } }, { "plugin": "AcceptAll" } ] },
              "isolation": "none", "deadlineMs": 100 }
            """, in: directory)
        let engine = try Fixtures.engine(policy: path)
        let late = await engine.decide(Fixtures.context(contactID: "slow"))
        XCTAssertEqual(late.answer, .refuse)
        XCTAssertEqual(late.audit.plugins.map(\.verdict), ["timeout"])
        XCTAssertTrue(late.reason.contains("timed out"), late.reason)
        let fast = await engine.decide(Fixtures.context(contactID: "fast"))
        XCTAssertEqual(fast.answer, .accept)
    }

    func testEngineRefusesToStartWithABadPlugin() throws {
        let path = try Fixtures.writePolicy(
            """
            { "default": { "chain": [ { "plugin": "NoSuchPlugin" }, { "plugin": "CapacityLimit", "config": {} } ] },
              "isolation": "none" }
            """, in: directory)
        XCTAssertThrowsError(try Fixtures.engine(policy: path)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("no plugin 'NoSuchPlugin'"), text)
            XCTAssertTrue(text.contains("default.chain[1]") && text.contains("missing key 'maxVideoSessions'"), text)
        }
    }

    func testAuditLogRecordsEveryDecision() async throws {
        let auditPath = "\(directory)/audit.jsonl"
        let path = try Fixtures.writePolicy(
            """
            { "default": { "chain": [ { "plugin": "RecordingRequired" }, { "plugin": "AcceptAll" } ] }, "isolation": "none" }
            """, in: directory)
        let engine = try Fixtures.engine(policy: path, audit: auditPath)
        let first = await engine.decide(Fixtures.context(contactID: "c-1"))
        _ = await engine.decide(Fixtures.context(contactID: "c-2", recordersIdle: 0))
        let lines = try String(contentsOfFile: auditPath, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        let records = try lines.map { try JSONDecoder().decode(AuditRecord.self, from: Data($0.utf8)) }
        XCTAssertEqual(records[0], first.audit)
        XCTAssertEqual(records[0].request.contactID, "c-1")
        XCTAssertEqual(records[0].answer, .accept)
        XCTAssertFalse(records[0].fallbackUsed)
        XCTAssertNotEqual(records[0].decisionID, records[1].decisionID)
        let consulted = records[0].plugins[1]
        XCTAssertEqual(consulted.id, "com.ctlive.policy.accept-all")
        XCTAssertEqual(consulted.version, "1.0.0")
        XCTAssertEqual(consulted.sha256, try PluginLibrary.fileSHA256(Fixtures.library("AcceptAll")))
        XCTAssertGreaterThan(consulted.latencyMicroseconds, 0)
        XCTAssertEqual(records[1].answer, .refuse)
        XCTAssertEqual(records[1].plugins.map(\.verdict), ["refuse"])
        let object = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        for key in ["decisionID", "time", "request", "plugins", "answer", "reason", "fallbackUsed", "latencyMicroseconds"] {
            XCTAssertNotNil(object[key], key)
        }
    }

    func testReloadSwitchesPolicyAndKeepsTheOldOneOnError() async throws {
        let path = try Fixtures.writePolicy(
            #"{ "agents": { "A1": { "chain": [ { "plugin": "AcceptAll" } ] } }, "isolation": "none" }"#, in: directory)
        let engine = try Fixtures.engine(policy: path)
        XCTAssertEqual(engine.delegatedAgents, ["A1"])
        let before = await engine.decide(Fixtures.context(agent: "A1"))
        XCTAssertEqual(before.answer, .accept)

        try #"{ "agents": { "A1": { "chain": [ { "plugin": "AudioOnly" } ] }, "A2": { "chain": [] } }, "isolation": "none" }"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        try engine.reload()
        XCTAssertEqual(engine.delegatedAgents, ["A1", "A2"])
        let after = await engine.decide(Fixtures.context(agent: "A1"))
        XCTAssertEqual(after.answer, .refuse)

        try "{ broken".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try engine.reload())
        let still = await engine.decide(Fixtures.context(agent: "A1"))
        XCTAssertEqual(still.answer, .refuse, "the previous policy stays in force")
    }

    func testReloadPicksUpANewPluginFile() async throws {
        let plugins = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: plugins) }
        let path = try Fixtures.writePolicy(#"{ "default": { "chain": [ { "plugin": "AcceptAll" } ] }, "isolation": "none" }"#, in: directory)
        let engine = try Fixtures.engine(policy: path, directories: [plugins, Fixtures.buildDirectory])
        try Fixtures.compileTestPlugin("libLateArrival.so", in: plugins, defines: [#"PLUGIN_ID="com.test.late""#])
        try #"{ "default": { "chain": [ { "plugin": "com.test.late" } ] }, "isolation": "none" }"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        try engine.reload()
        let decision = await engine.decide(Fixtures.context(contactID: "refuse"))
        XCTAssertEqual(decision.audit.plugins.first?.id, "com.test.late")
        XCTAssertEqual(decision.answer, .refuse)
    }

    func testTwoFilesWithOneIDInAPolicyAreRejected() throws {
        let one = try Fixtures.compileTestPlugin("libOne.so", in: directory, defines: [#"PLUGIN_ID="com.test.twin""#])
        let two = try Fixtures.compileTestPlugin("libTwo.so", in: directory, defines: [#"PLUGIN_ID="com.test.twin""#])
        for isolation in ["none", "process"] {
            let path = try Fixtures.writePolicy(
                #"{ "default": { "chain": [ { "plugin": "\#(one)" }, { "plugin": "\#(two)" } ] }, "isolation": "\#(isolation)" }"#,
                in: directory, name: "twins-\(isolation).json")
            XCTAssertThrowsError(try Fixtures.engine(policy: path), isolation) { error in
                XCTAssertTrue("\(error)".contains("libTwo.so: duplicate plugin id 'com.test.twin'"), "\(error)")
            }
        }
    }

    func testAuditTimeComesFromTheInjectedClock() async throws {
        let path = try Fixtures.writePolicy(#"{ "default": { "chain": [ { "plugin": "AcceptAll" } ] }, "isolation": "none" }"#, in: directory)
        let engine = try PolicyEngine(
            policyPath: path, pluginDirectories: [Fixtures.buildDirectory], auditLogPath: nil, logger: Fixtures.logger,
            options: .init(clock: { Date(timeIntervalSince1970: 1_795_000_000.25) }))
        let decision = await engine.decide(Fixtures.context())
        XCTAssertEqual(decision.audit.time, "2026-11-18T11:06:40.250Z")
    }
}
