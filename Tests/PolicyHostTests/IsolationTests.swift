import Foundation
import PolicyHost
import PolicyKit
import XCTest

/// `isolation: process`: plugins that crash or hang cost one request its normal answer, never the host.
final class IsolationTests: XCTestCase {
    var directory = ""
    var plugin = ""

    override func setUpWithError() throws {
        directory = try Fixtures.temporaryDirectory()
        plugin = try Fixtures.compileTestPlugin("libMisbehave.so", in: directory)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func engine(failMode: String = "closed", deadlineMs: Int = 100, audit: String? = nil) throws -> PolicyEngine {
        let path = try Fixtures.writePolicy(
            """
            { "agents": { "A1": { "chain": [ { "plugin": "\(plugin)" } ] } },
              "default": { "chain": [ { "plugin": "\(plugin)" }, { "plugin": "AcceptAll" } ] },
              "deadlineMs": \(deadlineMs), "isolation": "process", "failMode": "\(failMode)" }
            """, in: directory, name: "policy-\(failMode).json")
        return try Fixtures.engine(policy: path, audit: audit)
    }

    func testWorkerAnswersThroughTheSameChain() async throws {
        let engine = try engine()
        let accepted = await engine.decide(Fixtures.context(contactID: "ok", agent: "A1"))
        XCTAssertEqual(accepted.answer, .accept)
        XCTAssertEqual(accepted.audit.isolation, "process")
        XCTAssertEqual(accepted.audit.plugins.first?.id, "com.test.misbehave")
        XCTAssertEqual(accepted.audit.plugins.first?.sha256, try PluginLibrary.fileSHA256(plugin))
        let refused = await engine.decide(Fixtures.context(contactID: "refuse", agent: "A1"))
        XCTAssertEqual(refused.answer, .refuse)
        XCTAssertEqual(refused.reason, "\(plugin): test refuses")
        // A plugin writing to stdout cannot corrupt the worker's protocol.
        let printed = await engine.decide(Fixtures.context(contactID: "print", agent: "A1"))
        XCTAssertEqual(printed.answer, .accept)
        XCTAssertFalse(printed.audit.fallbackUsed)
    }

    func testSegfaultingPluginGetsTheFallbackAndTheNextRequestIsAnswered() async throws {
        let auditPath = "\(directory)/audit.jsonl"
        let engine = try engine(audit: auditPath)
        let crashed = await engine.decide(Fixtures.context(contactID: "segv", agent: "A1"))
        XCTAssertEqual(crashed.answer, .refuse, "fail closed")
        XCTAssertTrue(crashed.audit.fallbackUsed)
        XCTAssertEqual(crashed.audit.plugins.first?.verdict, "crash")
        XCTAssertTrue(crashed.audit.plugins.first?.reason.contains("SIGSEGV") ?? false, crashed.audit.plugins.first?.reason ?? "")
        XCTAssertTrue(crashed.audit.fallbackCause?.contains("crashed") ?? false, crashed.audit.fallbackCause ?? "")

        let next = await engine.decide(Fixtures.context(contactID: "ok", agent: "A1"))
        XCTAssertEqual(next.answer, .accept, next.reason)
        XCTAssertFalse(next.audit.fallbackUsed)

        let lines = try String(contentsOfFile: auditPath, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        let record = try JSONDecoder().decode(AuditRecord.self, from: Data(lines[0].utf8))
        XCTAssertTrue(record.fallbackUsed)
        XCTAssertTrue(record.reason.contains("SIGSEGV"), record.reason)
    }

    func testHangingPluginIsKilledAtTheDeadline() async throws {
        let engine = try engine(deadlineMs: 100)
        let start = Date()
        let hung = await engine.decide(Fixtures.context(contactID: "hang", agent: "A1"))
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(hung.answer, .refuse)
        XCTAssertEqual(hung.audit.plugins.first?.verdict, "timeout")
        XCTAssertTrue(hung.audit.plugins.first?.reason.contains("SIGKILL") ?? false, hung.audit.plugins.first?.reason ?? "")
        XCTAssertTrue(hung.audit.fallbackUsed)
        XCTAssertLessThan(elapsed, 5, "the decision must not wait for the hung plugin")

        let next = await engine.decide(Fixtures.context(contactID: "ok", agent: "A1"))
        XCTAssertEqual(next.answer, .accept, next.reason)
    }

    func testFailOpenGoesOnWithTheChainAfterACrash() async throws {
        let engine = try engine(failMode: "open")
        let decision = await engine.decide(Fixtures.context(contactID: "segv", agent: "B2"))
        XCTAssertEqual(decision.answer, .accept, decision.reason)
        XCTAssertEqual(decision.audit.plugins.map(\.verdict), ["crash", "accept"])
        XCTAssertTrue(decision.audit.fallbackUsed)
        // Alone in its chain, a crashing plugin under fail-open leaves it to the human agent.
        let alone = await engine.decide(Fixtures.context(contactID: "segv", agent: "A1", agentConnected: true))
        XCTAssertEqual(alone.answer, .askAgent, alone.reason)
    }

    func testRepeatedCrashesBackOff() async throws {
        let path = try Fixtures.writePolicy(
            #"{ "default": { "chain": [ { "plugin": "\#(plugin)" } ] }, "isolation": "process" }"#, in: directory, name: "backoff.json")
        let engine = try PolicyEngine(
            policyPath: path, pluginDirectories: [Fixtures.buildDirectory], auditLogPath: nil, logger: Fixtures.logger,
            options: .init(restartBackoffMs: 1_000))
        let first = await engine.decide(Fixtures.context(contactID: "segv", agent: "A1"))
        XCTAssertEqual(first.audit.plugins.first?.verdict, "crash")
        let second = await engine.decide(Fixtures.context(contactID: "segv", agent: "A1"))
        XCTAssertEqual(second.audit.plugins.first?.verdict, "crash", "restarted at once after the first crash")
        let third = await engine.decide(Fixtures.context(contactID: "ok", agent: "A1"))
        XCTAssertEqual(third.audit.plugins.first?.verdict, "unavailable", "restart delayed after consecutive crashes")
        XCTAssertEqual(third.answer, .refuse)
        XCTAssertTrue(third.audit.plugins.first?.reason.contains("backoff") ?? false, third.audit.plugins.first?.reason ?? "")
        try await Task.sleep(nanoseconds: 1_500_000_000)
        let later = await engine.decide(Fixtures.context(contactID: "ok", agent: "A1"))
        XCTAssertEqual(later.answer, .accept, later.reason)
    }

    func testWorkerReportsSetupErrors() throws {
        let path = try Fixtures.writePolicy(
            #"{ "default": { "chain": [ { "plugin": "\#(plugin)", "config": { "mode": "fail" } } ] }, "isolation": "process" }"#,
            in: directory, name: "bad.json")
        XCTAssertThrowsError(try Fixtures.engine(policy: path)) { error in
            XCTAssertTrue("\(error)".contains("create failed: told to fail: no licence key configured"), "\(error)")
        }
    }

    func testConcurrentDecisionsAreAllAnswered() async throws {
        let engine = try engine()
        let answers = await withTaskGroup(of: (Int, FinalAnswer).self) { group in
            for i in 0..<64 {
                group.addTask {
                    let decision = await engine.decide(Fixtures.context(contactID: i % 2 == 0 ? "refuse" : "ok-\(i)", agent: "A1"))
                    return (i, decision.answer)
                }
            }
            var answers: [Int: FinalAnswer] = [:]
            for await (i, answer) in group { answers[i] = answer }
            return answers
        }
        XCTAssertEqual(answers.count, 64)
        for (i, answer) in answers { XCTAssertEqual(answer, i % 2 == 0 ? .refuse : .accept, "decision \(i)") }
    }

    func testReloadUnderProcessIsolationUsesANewWorker() async throws {
        let path = try Fixtures.writePolicy(
            #"{ "agents": { "A1": { "chain": [ { "plugin": "AudioOnly" } ] } }, "isolation": "process" }"#,
            in: directory, name: "reload.json")
        let engine = try Fixtures.engine(policy: path)
        let before = await engine.decide(Fixtures.context(agent: "A1", useVideo: true))
        XCTAssertEqual(before.answer, .refuse)
        try #"{ "agents": { "A1": { "chain": [ { "plugin": "AcceptAll" } ] } }, "isolation": "process" }"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        try engine.reload()
        let after = await engine.decide(Fixtures.context(agent: "A1", useVideo: true))
        XCTAssertEqual(after.answer, .accept)
        XCTAssertEqual(after.audit.plugins.first?.id, "com.ctlive.policy.accept-all")
    }

    func testAMissingWorkerExecutableIsReported() throws {
        let path = try Fixtures.writePolicy(#"{ "default": { "chain": [ { "plugin": "AcceptAll" } ] } }"#, in: directory, name: "w.json")
        XCTAssertThrowsError(try PolicyEngine(
            policyPath: path, pluginDirectories: [Fixtures.buildDirectory], auditLogPath: nil, logger: Fixtures.logger,
            options: .init(workerCommand: ["\(directory)/no-such-worker"]))) { error in
            XCTAssertTrue("\(error)".contains("cannot start \(directory)/no-such-worker"), "\(error)")
        }
    }
}
