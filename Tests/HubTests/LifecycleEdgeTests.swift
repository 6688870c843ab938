import CTLive
import Foundation
import Hub
import Logging
import Signaling
import XCTest
import ZeroMQ

/// Lifecycle and authorisation edges: supervisors, stale answers, limits, delegation keys, a restarted hub.
final class LifecycleEdgeTests: XCTestCase {
    private func refusal(_ body: () async throws -> Void) async -> ErrorCode? {
        do { try await body() } catch let error as ClientError {
            if case .refused(let refusal) = error { return refusal.code }
        } catch {}
        return nil
    }

    private func escalate(_ harness: HubHarness, _ customer: CTLiveClient, _ agentEvents: EventReader, _ agent: CTLiveClient) async throws -> Contact {
        let contact = try await customer.openContact(agent: "A1")
        try await contact.requestVideoUpgrade(divID: "p", useAudio: true, useVideo: true)
        try await agentEvents.next("request") { $0.name == "requestVideoUpgrade" && $0.contactID == contact.id }
        try await agent.contacts[contact.id]!.responseVideoUpgrade(true, divID: "p")
        return contact
    }

    func testASupervisorAloneDoesNotKeepTheRoomAlive() async throws {
        let harness = try HubHarness()
        let agent = try await harness.connected(.agent, "A1")
        let agentEvents = EventReader(agent)
        let customer = try await harness.connected(.customer, "C1")
        let supervisor = try await harness.connected(.supervisor, "S1")
        let supervisorEvents = EventReader(supervisor)
        let contact = try await escalate(harness, customer, agentEvents, agent)
        try await agentEvents.next("room") { $0.name == "roomStarted" }
        try await supervisor.superviseRoom(contactID: contact.id)
        try await supervisorEvents.next("its own roomStarted") { $0.name == "roomStarted" }
        try await agentEvents.next("supervisor joined") {
            if case .participant(let p) = $0 { p.eventName == "onJoined" && p.participant?.role == .supervisor } else { false }
        }
        try await contact.videoDisconnectAndDestruct()
        try await agent.contacts[contact.id]!.videoDisconnectAndDestruct()
        try await supervisorEvents.next("roomEnded") { $0.name == "roomEnded" }
        // A customer cannot join rooms as a supervisor does.
        let code = await refusal { try await customer.superviseRoom(contactID: contact.id) }
        XCTAssertNotNil(code)
    }

    func testAStaleAnswerCannotSettleANewerRequest() async throws {
        let harness = try HubHarness(requestTimeout: .milliseconds(300))
        let agent = try await harness.connected(.agent, "A1")
        let agentEvents = EventReader(agent)
        let customer = try await harness.connected(.customer, "C1")
        let contact = try await customer.openContact(agent: "A1")
        try await contact.requestVideoUpgrade(divID: "p", useAudio: true, useVideo: true)
        let first = try await agentEvents.next("rq1") { $0.name == "requestVideoUpgrade" }
        guard case .requestVideoUpgrade(let stale) = first else { return XCTFail() }
        try await agentEvents.next("timeout") { $0.name == "responseVideoUpgrade" }
        try await contact.requestVideoUpgrade(divID: "p", useAudio: true, useVideo: true)
        try await agentEvents.next("rq2") { $0.name == "requestVideoUpgrade" }
        let code = await refusal {
            try await agent.request(ResponseVideoUpgrade(contactID: contact.id, response: true, divID: "p", requestID: stale.requestID))
        }
        XCTAssertEqual(code, .noPendingRequest)
        XCTAssertNotNil(agent.contacts[contact.id]?.pendingRequest, "rq2 still pending")
    }

    func testACustomerCannotOpenUnlimitedContacts() async throws {
        let harness = try HubHarness()
        let customer = try await harness.connected(.customer, "C1")
        for index in 0..<16 { _ = try await customer.openContact(agent: "A\(index)") }
        let code = await refusal { _ = try await customer.openContact(agent: "A99") }
        XCTAssertEqual(code, .queueFull)
    }

    func testUnderCurveARecorderAnswersOnlyForTheAgentsItsKeyLists() async throws {
        let server = try CurveKeyPair.generate()
        let botKey = try CurveKeyPair.generate()
        let keys = KeysFile(server: server, clients: [.init(publicKey: botKey.publicKey, role: .recorder, userId: "bot1", delegateFor: ["A1"])])
        let harness = try HubHarness(keys: keys)
        let curve = CurveClientKeys(serverPublicKey: server.publicKey, publicKey: botKey.publicKey, secretKey: botKey.secretKey)
        let allowed = harness.client(.recorder, "bot1", delegateFor: ["A1"], curve: curve)
        try await allowed.connect()
        await allowed.close()
        let greedy = harness.client(.recorder, "bot1", delegateFor: ["A1", "A2"], curve: curve)
        let code = await refusal { try await greedy.connect() }
        XCTAssertEqual(code, .forbidden)
    }

    func testAClientNoticesThatARestartedHubNoLongerKnowsIt() async throws {
        let first = try HubHarness()
        let customer = try await first.connected(.customer, "C1")
        let events = EventReader(customer)
        let endpoint = first.endpoint
        first.hub.stop()
        var configuration = HubConfiguration()
        configuration.signalingEndpoint = endpoint
        configuration.mediaEndpoint = nil
        // libzmq closes the old listener asynchronously: the port is free a moment after stop().
        var second: Hub?
        for _ in 0..<50 where second == nil {
            let hub = Hub(configuration: configuration, logger: Logger(label: "test.second"))
            if (try? hub.start()) != nil { second = hub } else { try await Task.sleep(for: .milliseconds(100)) }
        }
        let restarted = try XCTUnwrap(second, "the port never came free")
        defer { restarted.stop() }
        let lost = try await events.next("connectionLost", timeout: .seconds(8)) { $0.name == "connectionLost" }
        guard case .connectionLost(let reason) = lost else { return XCTFail() }
        XCTAssertTrue(reason.contains("no longer knows") || reason.contains("heartbeat"), reason)
        // It says hello again to the new hub, which now knows it.
        try await events.next("reconnected", timeout: .seconds(5)) { $0.name == "reconnected" }
        let reply = try await customer.request(Ping())
        XCTAssertTrue(reply is Pong)
        XCTAssertEqual(restarted.statistics.connectedClients, 1)
    }
}
