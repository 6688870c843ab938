import Foundation
import PolicyHost
import PolicyKit
import XCTest

/// The policy worker lives as long as its host, whatever thread started it; a worker that dies is
/// reaped at once and replaced; compliance steps marked `failClosed` hold even under `failMode: open`.
final class WorkerLifetimeTests: XCTestCase {
    var directory = ""
    var plugin = ""

    override func setUpWithError() throws {
        directory = try Fixtures.temporaryDirectory()
        plugin = try Fixtures.compileTestPlugin("libMisbehave.so", in: directory)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func policy(_ chain: String, failMode: String = "closed", deadlineMs: Int = 200) throws -> String {
        try Fixtures.writePolicy(
            #"{ "default": { "chain": [ \#(chain) ] }, "deadlineMs": \#(deadlineMs), "isolation": "process", "failMode": "\#(failMode)" }"#,
            in: directory, name: "policy-\(UUID().uuidString).json")
    }

    /// This process's children whose command line names the policy worker, with their state letter.
    private func workers() -> [(pid: Int32, state: String)] {
        let me = getpid()
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> (Int32, String)? in
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            guard fields.count > 2, Int32(fields[1]) == me else { return nil }
            let command = (try? String(contentsOfFile: "/proc/\(entry)/cmdline", encoding: .utf8)) ?? ""
            guard command.contains(PolicyEngine.workerSubcommand) || fields[0] == "Z" else { return nil }
            return (pid, String(fields[0]))
        }
    }

    func testAWorkerStartedFromAThreadThatEndsKeepsAnswering() async throws {
        let path = try policy(#"{ "plugin": "\#(plugin)" }"#)
        let others = Set(workers().map(\.pid))  // other tests' workers, on their way out
        // Linux's parent-death signal follows the thread that spawned a child: start the engine on a
        // thread that ends at once, as the pool's idle threads do after a few seconds.
        let made = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var built: Result<PolicyEngine, any Error>?
        let thread = Thread {
            built = Result { try Fixtures.engine(policy: path) }
            made.signal()
        }
        thread.start()
        made.wait()
        let engine = try built!.get()
        try await Task.sleep(for: .seconds(1))
        XCTAssertEqual(workers().filter { $0.state != "Z" && !others.contains($0.pid) }.count, 1, "the worker outlives the thread that started it")
        for second in 0..<3 {
            let decision = await engine.decide(Fixtures.context(contactID: "ok-\(second)", agent: "A1"))
            XCTAssertEqual(decision.answer, .accept, decision.reason)
            XCTAssertFalse(decision.audit.fallbackUsed, decision.audit.fallbackCause ?? "")
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    func testAWorkerKilledBetweenRequestsIsReapedAndReplaced() async throws {
        let others = Set(workers().map(\.pid))  // other tests' workers, on their way out
        let engine = try Fixtures.engine(policy: try policy(#"{ "plugin": "\#(plugin)" }"#))
        let first = await engine.decide(Fixtures.context(contactID: "ok", agent: "A1"))
        XCTAssertEqual(first.answer, .accept, first.reason)
        let mine = { self.workers().filter { !others.contains($0.pid) } }
        let before = mine()
        XCTAssertEqual(before.count, 1)
        guard let victim = before.first?.pid else { return }
        kill(victim, SIGKILL)
        // Reaped at once (no zombie) and replaced before the next request.
        var replaced: [(pid: Int32, state: String)] = []
        for _ in 0..<100 {
            replaced = mine()
            if !replaced.contains(where: { $0.pid == victim }) && replaced.count == 1 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTAssertFalse(replaced.contains { $0.pid == victim }, "the killed worker is reaped, not left a zombie")
        XCTAssertEqual(replaced.filter { $0.state != "Z" }.count, 1, "a new worker runs")
        let next = await engine.decide(Fixtures.context(contactID: "ok", agent: "A1"))
        XCTAssertEqual(next.answer, .accept, next.reason)
        XCTAssertFalse(next.audit.fallbackUsed, next.audit.fallbackCause ?? "")
    }

    func testAFailClosedStepRefusesEvenWhenThePolicyFailsOpen() async throws {
        let marked = try Fixtures.engine(policy: try policy(
            #"{ "plugin": "\#(plugin)", "failClosed": true }, { "plugin": "AcceptAll" }"#, failMode: "open"))
        let refused = await marked.decide(Fixtures.context(contactID: "segv", agent: "A1"))
        XCTAssertEqual(refused.answer, .refuse, refused.reason)
        XCTAssertTrue(refused.reason.contains("failClosed"), refused.reason)
        XCTAssertEqual(refused.audit.plugins.map(\.verdict), ["crash"], "the chain stops at the failed control")

        let unmarked = try Fixtures.engine(policy: try policy(#"{ "plugin": "\#(plugin)" }, { "plugin": "AcceptAll" }"#, failMode: "open"))
        let accepted = await unmarked.decide(Fixtures.context(contactID: "segv", agent: "A1"))
        XCTAssertEqual(accepted.answer, .accept, "without the mark, failing open goes on to AcceptAll")
    }

    func testTheShippedPolicyMarksRecordingRequired() throws {
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Plugins/default-policy.json")
        let policy = try PolicyFile.load(path: shipped.path)
        let steps = policy.labelledChains.flatMap(\.chain.chain).filter { $0.plugin == "RecordingRequired" }
        XCTAssertFalse(steps.isEmpty)
        XCTAssertTrue(steps.allSatisfy { $0.failClosed == true })
    }

    func testAHugeReasonIsCutAndTheDecisionKeepsItsAnswer() async throws {
        let engine = try Fixtures.engine(policy: try policy(#"{ "plugin": "\#(plugin)" }"#, deadlineMs: 500))
        let decision = await engine.decide(Fixtures.context(contactID: "hugereason", agent: "A1"))
        XCTAssertEqual(decision.answer, .accept, String(decision.reason.prefix(200)))
        XCTAssertLessThanOrEqual(decision.audit.plugins.first?.reason.utf8.count ?? .max, PluginInstance.maximumReasonBytes + 3)
        XCTAssertTrue(decision.audit.plugins.first?.reason.hasSuffix("…") ?? false)
    }

    func testAPartialTimeFallsBackToUTC() throws {
        let json = #"""
            {"contactID":"c","customer":{"id":"C1"},"agent":{"id":"A1"},"request":{"useAudio":true,"useVideo":true},
             "time":{"utc":"2026-11-27T10:00:00Z"},"recorders":{"idle":1},"chat":{"messages":0,"durationSeconds":0},
             "agentConnected":true}
            """#
        let context = try JSONDecoder().decode(DecisionContext.self, from: Data(json.utf8))
        XCTAssertEqual(context.time.agentLocal, "2026-11-27T10:00:00Z")
    }
}
