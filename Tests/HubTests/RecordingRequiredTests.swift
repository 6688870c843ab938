import CTLive
import Foundation
import Hub
import Signaling
import XCTest

/// Recording required during the call: a room no recorder writes for the grace ends, after the
/// members heard `interrupted`; one taken over in time goes on.
final class RecordingRequiredTests: XCTestCase {
    /// The clients of a room, kept alive for the test's length (a released client disconnects).
    private var keep: [CTLiveClient] = []

    /// A customer and an agent in a started room; the customer's events.
    private func room(_ harness: HubHarness, recordingRequiredByAnswer: Bool = false) async throws -> (EventReader, Contact, RoomStarted) {
        let agent = try await harness.connected(.agent, "A1")
        let agentEvents = EventReader(agent)
        let customer = harness.client(.customer, "C1", engagesMedia: false)
        try await customer.connect()
        let events = EventReader(customer)
        let contact = try await customer.openContact(agent: "A1")
        try await contact.requestVideoUpgrade(divID: "p", useAudio: true, useVideo: true)
        try await agentEvents.next("request") { $0.name == "requestVideoUpgrade" }
        try await agent.request(ResponseVideoUpgrade(contactID: contact.id, response: true, divID: "p",
                                                     recordingRequired: recordingRequiredByAnswer ? true : nil))
        guard case .roomStarted(let started) = try await events.next("room", where: { $0.name == "roomStarted" }) else { throw CancellationError() }
        keep += [agent, customer]
        return (events, contact, started)
    }

    /// A recorder that joins what it is assigned and reports that it records.
    private func recorder(_ harness: HubHarness, _ id: String) async throws -> CTLiveClient {
        let recorder = harness.client(.recorder, id, engagesMedia: false)
        recorder.onEvent { event in
            guard case .recordRoom(let assignment) = event else { return }
            Task {
                try await recorder.request(JoinRoom(roomID: assignment.roomID))
                try await recorder.request(RecordingReport(roomID: assignment.roomID, status: .recording))
            }
        }
        try await recorder.connect()
        return recorder
    }


    func testARequiredRoomWithNoRecorderEndsAfterTheGrace() async throws {
        let harness = try HubHarness(recordingRequired: true, recordingGrace: .seconds(1))
        let (events, _, started) = try await room(harness)
        XCTAssertEqual(started.recordingRequired, true)
        let stopped = try await events.next("stopped") { status($0)?.status == .stopped }
        XCTAssertEqual(status(stopped)?.reason, "no recorder available")
        let interrupted = try await events.next("interrupted", timeout: .seconds(4)) { status($0)?.status == .interrupted }
        XCTAssertTrue(status(interrupted)?.reason?.contains("recording is required") ?? false)
        guard case .roomEnded(let ended) = try await events.next("the end", where: { $0.name == "roomEnded" }) else { return XCTFail() }
        XCTAssertEqual(ended.reason, "recording lost")
    }

    func testAnAnswerCanRequireRecordingAndALostRecorderEndsTheRoom() async throws {
        let harness = try HubHarness(recordingGrace: .seconds(1))
        let recorder = try await recorder(harness, "R1")
        let (events, _, started) = try await room(harness, recordingRequiredByAnswer: true)
        XCTAssertEqual(started.recordingRequired, true)
        try await events.next("recording") { status($0)?.status == .recording }
        await recorder.close()
        let interrupted = try await events.next("interrupted") { status($0)?.status == .interrupted }
        XCTAssertEqual(status(interrupted)?.recorder, "recorder:R1")
        guard case .roomEnded(let ended) = try await events.next("the end", timeout: .seconds(4), where: { $0.name == "roomEnded" }) else {
            return XCTFail()
        }
        XCTAssertEqual(ended.reason, "recording lost")
    }

    func testARequiredRoomTakenOverInTimeGoesOn() async throws {
        let harness = try HubHarness(recordingRequired: true, recordingGrace: .seconds(2))
        let first = try await recorder(harness, "R1")
        let (events, contact, _) = try await room(harness)
        try await events.next("recording") { status($0)?.status == .recording }
        let second = try await recorder(harness, "R2")
        // R1 cannot write any more (its disk is full, say): the room goes to R2.
        try await first.request(RecordingReport(roomID: contact.roomID!, status: .failed, reason: "No space left on device"))
        let interrupted = try await events.next("interrupted") { status($0)?.status == .interrupted }
        XCTAssertEqual(status(interrupted)?.reason, "No space left on device")
        let resumed = try await events.next("recording again") { status($0)?.status == .recording }
        XCTAssertEqual(status(resumed)?.recorder, "recorder:R2")
        try await Task.sleep(for: .seconds(3))
        XCTAssertFalse(events.all.contains { $0.name == "roomEnded" }, "taken over within the grace, the room goes on")
        _ = second
    }
}

private func status(_ event: ClientEvent) -> RecordingStatus? {
    if case .recordingStatus(let status) = event { return status }
    return nil
}
