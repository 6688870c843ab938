import CTLive
import Foundation
import PolicyHost
import Signaling
import Synchronization
import SessionKit
import TestKit
import XCTest

/// A bot answers for an agent by its policy file; the customer sees a normal `responseVideoUpgrade`.
final class PolicyOverHubTests: XCTestCase {
    private func policyFile(_ directory: String, holidays: [String]) throws -> String {
        let path = directory + "/policy.json"
        let holidayList = holidays.map { "\"\($0)\"" }.joined(separator: ",")
        let json = """
        {
          "agents":  { "A1": { "chain": [ { "plugin": "BusinessHours",
                                            "config": { "timeZone": "UTC", "holidays": [\(holidayList)],
                                                        "windows": [ { "days": ["mon","tue","wed","thu","fri","sat","sun"], "from": "00:00", "to": "12:00" },
                                                                     { "days": ["mon","tue","wed","thu","fri","sat","sun"], "from": "12:00", "to": "00:00" } ] } } ] } },
          "default": { "chain": [ { "plugin": "AcceptAll" } ] },
          "deadlineMs": 1000,
          "isolation": "process",
          "failMode": "closed"
        }
        """
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func answer(holidays: [String]) async throws -> (customer: VideoUpgradeAnswered, agentSaw: [String], audit: String) {
        let directory = try temporaryDirectory(self)
        let session = try LiveSession()
        let engine = try PolicyEngine(policyPath: try policyFile(directory, holidays: holidays), pluginDirectories: defaultPluginDirectories(),
                                      auditLogPath: directory + "/decisions.jsonl", logger: quietLogger("policy"))
        let bot = try await session.bot(root: directory, policy: engine)
        XCTAssertEqual(bot.delegatedAgents, ["A1"])
        // The human agent is connected but does not answer: it sees the request and the automatic answer.
        let agent = try await session.participant(.agent, "A1", color: "red", tone: 660)
        let agentSaw = EventNames(agent)
        let customer = try await session.participant(.customer, "C1", color: "blue", tone: 440)
        let answers = Answers(customer)
        let contact = try await customer.openContact(agent: "A1", attributes: ["tier": "gold"])
        try await contact.requestVideoUpgrade(divID: "videoPanel", useAudio: true, useVideo: true)
        try await eventually("the answer") { answers.first != nil }
        try await eventually("the agent to see the answer") { agentSaw.names.contains("responseVideoUpgrade") }
        let audit = try String(contentsOfFile: directory + "/decisions.jsonl", encoding: .utf8)
        await customer.close()
        await agent.close()
        await bot.stop()
        return (answers.first!, agentSaw.names, audit)
    }

    func testAcceptedInsideBusinessHours() async throws {
        let (answer, agentSaw, audit) = try await answer(holidays: [])
        XCTAssertTrue(answer.response)
        XCTAssertTrue(answer.automatic)
        XCTAssertTrue(answer.by.hasPrefix("policy:"))
        XCTAssertTrue(agentSaw.contains("requestVideoUpgrade"))
        XCTAssertTrue(audit.contains("BusinessHours") || audit.contains("business-hours"), audit)
    }

    func testRefusedOutsideBusinessHours() async throws {
        let today = ISO8601DateFormatter.string(from: Date(), timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withFullDate])
        let (answer, _, audit) = try await answer(holidays: [today])
        XCTAssertFalse(answer.response)
        XCTAssertTrue(answer.automatic)
        XCTAssertFalse((answer.reason ?? "").isEmpty, "the refusal says why")
        XCTAssertTrue(audit.contains("\"refuse\""), audit)
    }
}

/// The names of the events a client received.
final class EventNames: Sendable {
    private let box = Mutex<[String]>([])
    init(_ client: CTLiveClient) { client.onEvent { [weak self] event in self?.box.withLock { $0.append(event.name) } } }
    var names: [String] { box.withLock { $0 } }
}

/// The `responseVideoUpgrade` events a client received.
final class Answers: Sendable {
    private let box = Mutex<[VideoUpgradeAnswered]>([])
    init(_ client: CTLiveClient) {
        client.onEvent { [weak self] event in
            if case .responseVideoUpgrade(let answer) = event { self?.box.withLock { $0.append(answer) } }
        }
    }
    var first: VideoUpgradeAnswered? { box.withLock { $0.first } }
}
