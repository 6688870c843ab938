import Bot
import CTLive
import Foundation
import Recorder
import Signaling
import Synchronization
import SessionKit
import TestKit
import XCTest

/// A session is recorded or visibly not: members hear `recordingStatus`, a lost recorder is replaced,
/// and clients and bots find a restarted hub again.
final class RecordingStatusTests: XCTestCase {
    /// Names of the client's events, in order.
    final class EventNames: Sendable {
        private let log = Mutex<[String]>([])
        init(_ client: CTLiveClient) { client.onEvent { [weak self] event in self?.log.withLock { $0.append(event.name) } } }
        var names: [String] { log.withLock { $0 } }
    }

    private func manifest(_ result: RecordingResult) throws -> RecordingManifest {
        try JSONDecoder().decode(RecordingManifest.self, from: Data(contentsOf: URL(fileURLWithPath: result.manifestPath)))
    }

    func testMembersHearWhenRecordingStartsAndStops() async throws {
        let root = try temporaryDirectory(self)
        let session = try LiveSession()
        let bot = try await session.bot(root: root)
        let agent = try await session.acceptingAgent("A1", color: "red", tone: 660)
        let customer = try await session.participant(.customer, "C1", color: "blue", tone: 440)
        let heard = RecordingStatusLog(customer)
        let contact = try await customer.openContact(agent: "A1")
        try await contact.requestVideoUpgrade(divID: "videoPanel", useAudio: true, useVideo: true)
        try await eventually("recording") { heard.statuses == ["recording"] }
        XCTAssertEqual(heard.all.first?.recorder, "recorder:\(bot.configuration.userId)")
        XCTAssertEqual(heard.all.first?.contactID, contact.id)
        try await Task.sleep(for: .seconds(1))
        try await contact.videoDisconnectAndDestruct()
        try await agent.contacts[contact.id]!.videoDisconnectAndDestruct()
        try await eventually("stopped") { heard.statuses == ["recording", "stopped"] }
        try await eventually("the recording") { !bot.finished.isEmpty }
        let events = try manifest(bot.finished[0]).events
        XCTAssertTrue(events.contains { $0.kind == "recordingStatus" && $0.fields["status"] == "recording" }, "the review timeline shows it")
    }

    func testARoomNoRecorderTakesIsVisiblyNotRecorded() async throws {
        let session = try LiveSession()
        _ = try await session.acceptingAgent("A1", color: "red", tone: 660)
        let customer = try await session.participant(.customer, "C1", color: "blue", tone: 440)
        let heard = RecordingStatusLog(customer)
        let contact = try await customer.openContact(agent: "A1")
        try await contact.requestVideoUpgrade(divID: "videoPanel", useAudio: true, useVideo: true)
        try await eventually("stopped") { heard.statuses == ["stopped"] }
        XCTAssertEqual(heard.all.first?.reason, "no recorder available")
    }

    func testALostRecorderIsToldAndAnotherTakesOver() async throws {
        let root = try temporaryDirectory(self)
        let session = try LiveSession()
        let first = try await session.bot(root: root)
        let agent = try await session.acceptingAgent("A1", color: "red", tone: 660)
        let customer = try await session.participant(.customer, "C1", color: "blue", tone: 440)
        let heard = RecordingStatusLog(customer)
        let contact = try await customer.openContact(agent: "A1")
        try await contact.requestVideoUpgrade(divID: "videoPanel", useAudio: true, useVideo: true)
        try await eventually("recording") { heard.statuses == ["recording"] }
        let second = try await session.bot(root: root)
        try await Task.sleep(for: .seconds(1))
        await first.stop()
        try await eventually("taken over") { heard.statuses == ["recording", "interrupted", "recording"] }
        XCTAssertEqual(heard.all[1].recorder, "recorder:\(first.configuration.userId)")
        XCTAssertEqual(heard.all[2].recorder, "recorder:\(second.configuration.userId)")
        try await Task.sleep(for: .seconds(1))
        try await contact.videoDisconnectAndDestruct()
        try await agent.contacts[contact.id]!.videoDisconnectAndDestruct()
        try await eventually("the second part") { !second.finished.isEmpty }
        let secondPart = try manifest(second.finished[0])
        XCTAssertEqual(secondPart.status, "finished")
        XCTAssertEqual(secondPart.part, 2)
        XCTAssertEqual(secondPart.previousRecorder, "recorder:\(first.configuration.userId)", "the new part names the one before")
        XCTAssertEqual(try manifest(first.finished[0]).part, 1)
        XCTAssertEqual(try probe(second.finished[0].recordingPath).duration, 1.5, accuracy: 1)
        // One session, its parts and the gap between them.
        let shown = try runCommand(ctliveExecutable, ["recordings", "show", (second.finished[0].directory as NSString).lastPathComponent,
                                                       "--recordings", root])
        XCTAssertEqual(shown.status, 0, shown.stderr)
        XCTAssertTrue(shown.stdout.contains("recorded in 2 parts"), shown.stdout)
        XCTAssertTrue(shown.stdout.contains("gap "), shown.stdout)
        XCTAssertTrue(shown.stdout.contains("took over from recorder:\(first.configuration.userId)"), shown.stdout)
    }

    func testClientsAndTheBotFindARestartedHub() async throws {
        let root = try temporaryDirectory(self)
        let session = try LiveSession()
        let bot = try await session.bot(root: root)
        let agent = try await session.acceptingAgent("A1", color: "red", tone: 660)
        let agentEvents = EventNames(agent)
        let customer = try await session.participant(.customer, "C1", color: "blue", tone: 440)
        let contact = try await customer.openContact(agent: "A1")
        try await contact.requestVideoUpgrade(divID: "videoPanel", useAudio: true, useVideo: true)
        try await eventually("the room") { contact.roomID != nil }
        try await Task.sleep(for: .seconds(1))

        try await session.restartHub(downtime: .seconds(1))
        let restarted = ContinuousClock.now
        // The cut recording is finished as interrupted; the agent and the bot say hello to the new hub.
        try await eventually("the interrupted part", timeout: .seconds(10)) { !bot.finished.isEmpty }
        let cut = try manifest(bot.finished[0])
        XCTAssertEqual(cut.status, "interrupted")
        XCTAssertNotNil(cut.interruption)
        try await eventually("the agent reconnected", timeout: .seconds(10)) { agentEvents.names.contains("reconnected") }
        XCTAssertTrue(agentEvents.names.contains("connectionLost"))
        XCTAssertTrue(agentEvents.names.contains("contactClosed"), "the SDK tells the agent its contact ended")

        // A new session is recorded by the same bot within seconds of the new hub's start.
        let newcomer = try await session.participant(.customer, "C2", color: "green", tone: 880)
        let second = try await newcomer.openContact(agent: "A1")
        let heard = RecordingStatusLog(newcomer)
        try await second.requestVideoUpgrade(divID: "videoPanel", useAudio: true, useVideo: true)
        // (If the room starts before the bot is back, it hears `stopped` first and `recording` once the bot takes it.)
        try await eventually("recorded again", timeout: .seconds(10)) { heard.statuses.last == "recording" }
        XCTAssertLessThan(ContinuousClock.now - restarted, .seconds(5), "recording again within 5 s of the new hub's start")
        try await Task.sleep(for: .seconds(1))
        try await second.videoDisconnectAndDestruct()
        try await eventually("the agent's new contact") { agent.contacts[second.id] != nil }
        try await agent.contacts[second.id]!.videoDisconnectAndDestruct()
        try await eventually("the new recording") { bot.finished.count == 2 }
        XCTAssertEqual(try manifest(bot.finished[1]).status, "finished")
    }
}
