import CTLive
import Foundation
import Hub
import Signaling
import XCTest

/// The hub assigns rooms by load and never past a recorder's capacity; a recorder that cannot write
/// (`recorderState` `accepting: false`) gets no room until it says it can again.
final class RecorderCapacityTests: XCTestCase {
    private var keep: [CTLiveClient] = []

    /// A started room between a new customer and agent; the customer's events.
    private func room(_ harness: HubHarness, _ index: Int) async throws -> EventReader {
        let agent = harness.client(.agent, "A\(index)", engagesMedia: false)
        try await agent.connect()
        let agentEvents = EventReader(agent)
        let customer = harness.client(.customer, "C\(index)", engagesMedia: false)
        try await customer.connect()
        let events = EventReader(customer)
        let contact = try await customer.openContact(agent: "A\(index)")
        try await contact.requestVideoUpgrade(divID: "p", useAudio: true, useVideo: true)
        try await agentEvents.next("request") { $0.name == "requestVideoUpgrade" }
        try await agent.request(ResponseVideoUpgrade(contactID: contact.id, response: true, divID: "p"))
        try await events.next("room") { $0.name == "roomStarted" }
        keep += [agent, customer]
        return events
    }

    private func recorder(_ harness: HubHarness, capacity: Int?, id: String = "R1") async throws -> (CTLiveClient, EventReader) {
        var configuration = ClientConfiguration(hub: harness.endpoint, hello: Hello(role: .recorder, userId: id, capacity: capacity))
        configuration.engagesMedia = false
        let recorder = CTLiveClient(configuration: configuration)
        let events = EventReader(recorder)
        try await recorder.connect()
        keep.append(recorder)
        return (recorder, events)
    }

    func testNoRoomPastARecordersCapacity() async throws {
        let harness = try HubHarness()
        let (_, assigned) = try await recorder(harness, capacity: 1)
        _ = try await room(harness, 1)
        try await assigned.next("the first room") { $0.name == "recordRoom" }
        let second = try await room(harness, 2)
        let stopped = try await second.next("not recorded") { event in
            if case .recordingStatus(let status) = event { status.status == .stopped } else { false }
        }
        guard case .recordingStatus(let status) = stopped else { return XCTFail() }
        XCTAssertEqual(status.reason, "no recorder available")
        XCTAssertEqual(assigned.all.filter { $0.name == "recordRoom" }.count, 1, "capacity 1: one room")
    }

    func testARecorderThatCannotWriteGetsNoRoomUntilItCanAgain() async throws {
        let harness = try HubHarness()
        let (recorder, assigned) = try await recorder(harness, capacity: nil)
        try await recorder.request(RecorderState(accepting: false, reason: "No space left on device"))
        let members = try await room(harness, 1)
        // The hub decides at the room's start: members hear `stopped` in the same turn it would have assigned it.
        try await members.next("not recorded") { event in
            if case .recordingStatus(let status) = event { status.status == .stopped } else { false }
        }
        XCTAssertFalse(assigned.all.contains { $0.name == "recordRoom" }, "no room while it cannot write")
        try await recorder.request(RecorderState(accepting: true))
        try await assigned.next("the waiting room, once it can write") { $0.name == "recordRoom" }
    }

    func testRoomsGoToTheRecorderWithTheMostHeadroom() async throws {
        let harness = try HubHarness()
        let (busy, busyRooms) = try await recorder(harness, capacity: nil, id: "R1")
        let (idle, idleRooms) = try await recorder(harness, capacity: nil, id: "R2")
        // R1 would win a tie (the lowest id); its machine is busy, R2's is not.
        try await busy.request(RecorderState(accepting: true, load: 0.9, queuedComposites: 0))
        try await idle.request(RecorderState(accepting: true, load: 0.2, queuedComposites: 0))
        _ = try await room(harness, 1)
        _ = try await room(harness, 2)
        try await idleRooms.next("the first room") { $0.name == "recordRoom" }
        try await idleRooms.next("the second room") { $0.name == "recordRoom" }
        XCTAssertFalse(busyRooms.all.contains { $0.name == "recordRoom" }, "no room for the busy machine while another has headroom")
        // A deep render queue counts against a recorder too.
        try await idle.request(RecorderState(accepting: true, load: 0.2, queuedComposites: 80))
        try await busy.request(RecorderState(accepting: true, load: 0.5, queuedComposites: 0))
        _ = try await room(harness, 3)
        try await busyRooms.next("the third room") { $0.name == "recordRoom" }
        do {
            try await busy.request(RecorderState(accepting: true, load: 7))
            XCTFail("a load over 1 is refused")
        } catch {
            XCTAssertTrue("\(error)".contains("load must be between 0 and 1"), "\(error)")
        }
    }

    func testAStrangerCannotSayItTakesRooms() async throws {
        let harness = try HubHarness()
        let customer = harness.client(.customer, "C1", engagesMedia: false)
        try await customer.connect()
        do {
            try await customer.request(RecorderState(accepting: false))
            XCTFail("a customer may not")
        } catch {
            guard case .refused(let refusal) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(refusal.code, .forbidden)
        }
    }
}
