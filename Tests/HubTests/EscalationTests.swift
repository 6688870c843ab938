import CTLive
import Foundation
import Hub
import Signaling
import XCTest

final class EscalationTests: XCTestCase {
    func testAcceptedEscalationStartsRoomAndEndsWhenMembersLeave() async throws {
        let harness = try HubHarness()
        let agent = try await harness.connected(.agent, "A1")
        let agentEvents = EventReader(agent)
        let customer = try await harness.connected(.customer, "C1")
        let customerEvents = EventReader(customer)

        let contact = try await customer.openContact(agent: "A1", attributes: ["tier": "gold"])
        let opened = try await agentEvents.next("contactOpened") { $0.name == "contactOpened" }
        guard case .contactOpened(let info) = opened else { return XCTFail() }
        XCTAssertEqual(info.customer, "C1")
        XCTAssertEqual(info.attributes["tier"], "gold")

        try await contact.sendChat("hello, can we talk on video?")
        try await agentEvents.next("chat") { if case .chat(let c) = $0 { c.text == "hello, can we talk on video?" && c.seq == 1 } else { false } }

        let answered = expectation(description: "contact.on(responseVideoUpgrade)")
        contact.on("responseVideoUpgrade") { event in
            if event.response == true { answered.fulfill() }
        }
        try await contact.requestVideoUpgrade(divID: "videoPanel", useAudio: true, useVideo: false)
        let request = try await agentEvents.next("requestVideoUpgrade") { $0.name == "requestVideoUpgrade" }
        guard case .requestVideoUpgrade(let asked) = request else { return XCTFail() }
        XCTAssertEqual(asked.divID, "videoPanel")
        XCTAssertTrue(asked.useAudio)
        XCTAssertFalse(asked.useVideo)
        XCTAssertEqual(asked.from.id, "customer:C1")
        XCTAssertNil(asked.facts, "only delegates get decision facts")

        let agentContact = try XCTUnwrap(agent.contacts[contact.id])
        try await agentContact.responseVideoUpgrade(true, divID: "agentPanel")
        await fulfillment(of: [answered], timeout: 5)
        try await customerEvents.next("roomStarted") { $0.name == "roomStarted" }
        try await agentEvents.next("roomStarted") { $0.name == "roomStarted" }
        // The agent joined second: the customer sees it join.
        try await customerEvents.next("onJoined agent") {
            if case .participant(let p) = $0 { p.eventName == "onJoined" && p.participant?.id == "agent:A1" } else { false }
        }
        XCTAssertNotNil(contact.roomID)

        // A second request while the room is active is refused.
        await assertRefused(.roomActive) { try await contact.requestVideoUpgrade(divID: "videoPanel", useAudio: true, useVideo: true) }

        try await contact.videoDisconnectAndDestruct()
        try await agentEvents.next("onLeft customer") {
            if case .participant(let p) = $0 { p.eventName == "onLeft" && p.participant?.id == "customer:C1" } else { false }
        }
        try await agentContact.videoDisconnectAndDestruct()
        try await customerEvents.next("roomEnded") { $0.name == "roomEnded" }
        XCTAssertNil(contact.roomID)

        // A new video session needs a new request, which is allowed now.
        try await contact.requestVideoUpgrade(divID: "videoPanel", useAudio: true, useVideo: true)
        try await agentEvents.next("second requestVideoUpgrade") { $0.name == "requestVideoUpgrade" }
        await customer.close()
        await agent.close()
    }

    func testRefusalReachesTheRequesterAndStartsNoRoom() async throws {
        let harness = try HubHarness()
        let agent = try await harness.connected(.agent, "A1")
        let agentEvents = EventReader(agent)
        let customer = try await harness.connected(.customer, "C1")
        let customerEvents = EventReader(customer)
        let contact = try await customer.openContact(agent: "A1")
        try await contact.requestVideoUpgrade(divID: "p", useAudio: true, useVideo: true)
        try await agentEvents.next("request") { $0.name == "requestVideoUpgrade" }
        try await agent.contacts[contact.id]!.responseVideoUpgrade(false, divID: "p")
        let answer = try await customerEvents.next("answer") { $0.name == "responseVideoUpgrade" }
        XCTAssertEqual(answer.response, false)
        // A room would start in the same turn as the answer: once a later request's reply is back, any
        // `roomStarted` would already have been delivered (one connection, in order).
        _ = try await customer.request(Ping())
        XCTAssertFalse(customerEvents.all.contains { $0.name == "roomStarted" })
        XCTAssertNil(contact.roomID)
    }

    func testUnansweredRequestExpiresWithTimeoutRefusal() async throws {
        let harness = try HubHarness(requestTimeout: .milliseconds(300))
        let agent = try await harness.connected(.agent, "A1")
        let customer = try await harness.connected(.customer, "C1")
        let customerEvents = EventReader(customer)
        let agentEvents = EventReader(agent)
        let contact = try await customer.openContact(agent: "A1")
        try await contact.requestVideoUpgrade(divID: "p", useAudio: true, useVideo: true)
        let answer = try await customerEvents.next("timeout answer") { $0.name == "responseVideoUpgrade" }
        guard case .responseVideoUpgrade(let timedOut) = answer else { return XCTFail() }
        XCTAssertFalse(timedOut.response)
        XCTAssertEqual(timedOut.reason, "timeout")
        XCTAssertEqual(timedOut.by, "hub")
        try await agentEvents.next("agent told of the timeout") { $0.name == "responseVideoUpgrade" }
        // The late answer finds nothing pending.
        await assertRefused(.noPendingRequest) { try await agent.contacts[contact.id]!.responseVideoUpgrade(true, divID: "p") }
    }

    func testRequesterLeavingCancelsTheRequest() async throws {
        let harness = try HubHarness()
        let agent = try await harness.connected(.agent, "A1")
        let agentEvents = EventReader(agent)
        let customer = try await harness.connected(.customer, "C1")
        let contact = try await customer.openContact(agent: "A1")
        try await contact.requestVideoUpgrade(divID: "p", useAudio: true, useVideo: true)
        try await agentEvents.next("request") { $0.name == "requestVideoUpgrade" }
        try await contact.leave()
        try await agentEvents.next("cancelled") { $0.name == "requestVideoUpgradeCancelled" }
        try await agentEvents.next("contactClosed") { $0.name == "contactClosed" }
        XCTAssertNil(agent.contacts[contact.id])
    }

    func testOutOfTurnCallsAreRefusedAndChangeNothing() async throws {
        let harness = try HubHarness()
        let agent = try await harness.connected(.agent, "A1")
        let agentEvents = EventReader(agent)
        let customer = try await harness.connected(.customer, "C1")
        let contact = try await customer.openContact(agent: "A1")
        try await agentEvents.next("contactOpened") { $0.name == "contactOpened" }
        let agentContact = try XCTUnwrap(agent.contacts[contact.id])

        // An answer with nothing pending.
        await assertRefused(.noPendingRequest) { try await agentContact.responseVideoUpgrade(true, divID: "p") }
        try await contact.requestVideoUpgrade(divID: "p", useAudio: true, useVideo: true)
        // A second request while one is pending.
        await assertRefused(.requestPending) { try await contact.requestVideoUpgrade(divID: "p", useAudio: true, useVideo: true) }
        // The requester answering its own request.
        await assertRefused(.forbidden) { try await contact.responseVideoUpgrade(true, divID: "p") }
        // Leaving a room one is not in.
        await assertRefused(.notInRoom) { try await contact.videoDisconnectAndDestruct() }

        // Strangers: another customer and another agent.
        let stranger = try await harness.connected(.customer, "C2")
        await assertRefused(.notMember) { try await stranger.request(SendChat(contactID: contact.id, text: "hi")) }
        await assertRefused(.notMember) { try await stranger.request(RequestVideoUpgrade(contactID: contact.id, divID: "p", useAudio: true, useVideo: true)) }
        let otherAgent = try await harness.connected(.agent, "A2")
        await assertRefused(.notMember) { try await otherAgent.request(ResponseVideoUpgrade(contactID: contact.id, response: true, divID: "p")) }
        // A recorder that is not the agent's delegate cannot answer for it.
        let recorder = try await harness.connected(.recorder, "R9", records: false)
        await assertRefused(.forbidden) { try await recorder.request(ResponseVideoUpgrade(contactID: contact.id, response: true, divID: "p", onBehalfOf: "A1")) }
        // Agents do not open contacts; the same identity cannot connect twice.
        await assertRefused(.forbidden) { try await otherAgent.request(OpenContact(agent: "A1")) }
        await assertRefused(.idInUse) { _ = try await harness.connected(.agent, "A1") }

        // The request is still pending and still answerable by the right member.
        XCTAssertNotNil(agentContact.pendingRequest)
        try await agentContact.responseVideoUpgrade(true, divID: "p")
    }

    func testQueueRoutesToTheLeastLoadedAgent() async throws {
        let harness = try HubHarness()
        _ = try await harness.connected(.agent, "A1", queues: ["sales"])
        _ = try await harness.connected(.agent, "A2", queues: ["sales", "support"])
        let customer = try await harness.connected(.customer, "C1")
        let first = try await customer.openContact(queue: "sales")
        let second = try await customer.openContact(queue: "sales")
        try await Task.sleep(for: .milliseconds(100))
        XCTAssertEqual(Set([first.agent, second.agent]), ["A1", "A2"])
        await assertRefused(.noAgentAvailable) { _ = try await customer.openContact(queue: "billing") }
    }

    func testPolicyDelegateAnswersForTheAgentAndBothSidesSeeIt() async throws {
        let harness = try HubHarness()
        let delegate = try await harness.connected(.recorder, "bot1", delegateFor: ["A1"])
        let delegateEvents = EventReader(delegate)
        let agent = try await harness.connected(.agent, "A1")
        let agentEvents = EventReader(agent)
        let customer = try await harness.connected(.customer, "C1")
        let customerEvents = EventReader(customer)
        let contact = try await customer.openContact(agent: "A1", attributes: ["tier": "gold"])
        try await contact.sendChat("hi")
        try await contact.requestVideoUpgrade(divID: "p", useAudio: true, useVideo: true)
        let asked = try await delegateEvents.next("request with facts") { $0.name == "requestVideoUpgrade" }
        guard case .requestVideoUpgrade(let request) = asked, let facts = request.facts else { return XCTFail("no facts") }
        XCTAssertEqual(facts.attributes["tier"], "gold")
        XCTAssertEqual(facts.chatMessages, 1)
        XCTAssertTrue(facts.agentConnected)
        XCTAssertEqual(facts.idleRecorders, 1)
        try await agentEvents.next("agent sees the request") { $0.name == "requestVideoUpgrade" }
        try await delegate.request(ResponseVideoUpgrade(contactID: contact.id, response: true, divID: "p", onBehalfOf: "A1", reason: "inside business hours"))
        for events in [customerEvents, agentEvents] {
            let answer = try await events.next("automatic answer") { $0.name == "responseVideoUpgrade" }
            guard case .responseVideoUpgrade(let a) = answer else { return XCTFail() }
            XCTAssertTrue(a.response)
            XCTAssertTrue(a.automatic)
            XCTAssertEqual(a.reason, "inside business hours")
            XCTAssertEqual(a.by, "policy:bot1")
        }
    }

    func testRecorderIsAssignedJoinsAndDrivesSpeakerEvents() async throws {
        let harness = try HubHarness()
        let busy = try await harness.connected(.recorder, "R1")
        let idle = try await harness.connected(.recorder, "R2")
        let busyEvents = EventReader(busy)
        let idleEvents = EventReader(idle)
        let agent = try await harness.connected(.agent, "A1")
        let agentEvents = EventReader(agent)
        let customer = try await harness.connected(.customer, "C1")
        let customerEvents = EventReader(customer)

        func escalate() async throws -> Contact {
            let contact = try await customer.openContact(agent: "A1")
            try await contact.requestVideoUpgrade(divID: "p", useAudio: true, useVideo: true)
            try await agentEvents.next("request") { $0.name == "requestVideoUpgrade" && $0.contactID == contact.id }
            try await agent.contacts[contact.id]!.responseVideoUpgrade(true, divID: "p")
            return contact
        }
        let first = try await escalate()
        // Ties go to the lowest id: R1 records the first room, R2 (now least loaded) the second.
        let assigned = try await busyEvents.next("recordRoom") { $0.name == "recordRoom" }
        guard case .recordRoom(let record) = assigned else { return XCTFail() }
        XCTAssertEqual(record.contactID, first.id)
        XCTAssertEqual(record.request.divID, "p")
        XCTAssertTrue(record.answer.response)
        let second = try await escalate()
        let assignedSecond = try await idleEvents.next("recordRoom") { $0.name == "recordRoom" }
        XCTAssertEqual(assignedSecond.contactID, second.id)

        try await busy.request(JoinRoom(roomID: record.roomID))
        try await customerEvents.next("recorder joined") {
            if case .participant(let p) = $0 { p.eventName == "onJoined" && p.participant?.role == .recorder } else { false }
        }
        // Only the assigned recorder joins or ranks.
        await assertRefused(.forbidden) { try await idle.request(JoinRoom(roomID: record.roomID)) }
        try busy.post(SpeakerRanking(roomID: record.roomID, ranking: ["agent:A1", "customer:C1"], loudestChanged: true))
        let loudest = try await customerEvents.next("onLoudestChanged") {
            if case .participant(let p) = $0 { p.eventName == "onLoudestChanged" } else { false }
        }
        guard case .participant(let event) = loudest else { return XCTFail() }
        XCTAssertEqual(event.participant?.id, "agent:A1")
    }

    private func assertRefused(_ code: ErrorCode, file: StaticString = #filePath, line: UInt = #line, _ body: () async throws -> Void) async {
        do {
            try await body()
            XCTFail("not refused; expected \(code.rawValue)", file: file, line: line)
        } catch let error as ClientError {
            guard case .refused(let refusal) = error else { return XCTFail("not a refusal: \(error)", file: file, line: line) }
            XCTAssertEqual(refusal.code, code, refusal.message, file: file, line: line)
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }
}
