import Bot
import CTLive
import Foundation
import Media
import SessionKit
import TestKit
import Recorder
import Signaling
import Synchronization
import XCTest

/// Escalations over the real hub, recorded by the real bot, checked in the file it wrote.
final class RecordedSessionTests: XCTestCase {
    func testThreeParticipantsWithALateJoinerAndALeaver() async throws {
        let root = try temporaryDirectory(self)
        let session = try LiveSession()
        let bot = try await session.bot(root: root)
        let agent = try await session.acceptingAgent("A1", color: "red", tone: 660)
        let customer = try await session.participant(.customer, "C1", color: "blue", tone: 440)
        let supervisor = try await session.participant(.supervisor, "S1", color: "yellow", tone: 1000)

        let heard = RoomEventNames(customer)
        let contact = try await customer.openContact(agent: "A1")
        try await contact.sendChat("can we switch to video?")
        try await contact.requestVideoUpgrade(divID: "videoPanel", useAudio: true, useVideo: true)
        try await eventually("the room") { contact.roomID != nil }
        let roomID = try XCTUnwrap(contact.roomID)

        try await Task.sleep(for: .seconds(3))
        try await supervisor.superviseRoom(contactID: contact.id)
        try await Task.sleep(for: .seconds(3))
        try await supervisor.leaveRoom(contactID: contact.id, roomID: roomID)
        try await Task.sleep(for: .seconds(2))
        try await contact.videoDisconnectAndDestruct()
        try await agent.contacts[contact.id]!.videoDisconnectAndDestruct()
        try await eventually("the finished recording") { !bot.finished.isEmpty }

        // The bot's audio levels reached the members as the hub's speaker events.
        XCTAssertTrue(heard.names.contains("onLoudestChanged"), "\(heard.names)")
        XCTAssertTrue(heard.names.contains("onDynamicChanged"))
        XCTAssertTrue(heard.names.contains("onJoined"))
        let result = bot.finished[0]
        let manifest = try JSONDecoder().decode(RecordingManifest.self, from: Data(contentsOf: URL(fileURLWithPath: result.manifestPath)))
        XCTAssertEqual(manifest.status, "finished")
        XCTAssertEqual(manifest.sha256, result.sha256)
        let info = try probe(result.recordingPath)
        XCTAssertEqual(info.videoCodec, "h264")
        XCTAssertEqual(info.audioCodec, "aac")
        XCTAssertEqual(info.width, 1280)
        XCTAssertEqual(info.height, 720)
        XCTAssertEqual(info.duration, 8, accuracy: 0.6, "the session lasted about 8 s")

        let byID = Dictionary(uniqueKeysWithValues: manifest.participants.map { ($0.id, $0) })
        let joined = try XCTUnwrap(byID["supervisor:S1"]?.joinedAt)
        let left = try XCTUnwrap(byID["supervisor:S1"]?.leftAt)
        XCTAssertEqual(joined, 3, accuracy: 0.5, "the late joiner appears at the time it joined")
        XCTAssertEqual(left, 6, accuracy: 0.5)

        let before = 1.5, during = (joined + left) / 2 + 0.2, after = left + 1.0
        let decoded = try decode(result.recordingPath, picturesAt: [before, during, after])
        XCTAssertEqual(decoded.decodeErrors, 0)
        let colors = ["customer:C1": RGB(parsing: "blue")!, "agent:A1": RGB(parsing: "red")!, "supervisor:S1": RGB(parsing: "yellow")!]
        assertTiles(decoded, manifest, at: before, colors: colors, expected: ["customer:C1", "agent:A1"])
        assertTiles(decoded, manifest, at: during, colors: colors, expected: ["customer:C1", "agent:A1", "supervisor:S1"])
        assertTiles(decoded, manifest, at: after, colors: colors, expected: ["customer:C1", "agent:A1"])

        XCTAssertTrue(decoded.hasTone(440, before - 1, before + 0.5), "the customer's tone")
        XCTAssertTrue(decoded.hasTone(660, before - 1, before + 0.5), "the agent's tone")
        XCTAssertFalse(decoded.hasTone(1000, before - 1, before + 0.5), "no supervisor before it joined")
        XCTAssertTrue(decoded.hasTone(1000, during - 0.5, during + 0.5), "the supervisor's tone while present")
        XCTAssertFalse(decoded.hasTone(1000, after, after + 0.5), "no supervisor after it left")

        // The timeline holds the escalation, the joins and leaves, and the chat that followed the room's start.
        let kinds = manifest.events.map(\.kind)
        XCTAssertTrue(kinds.contains("request") && kinds.contains("answer"), "\(kinds)")
        XCTAssertEqual(manifest.events.first { $0.kind == "answer" }?.fields["response"], "true")
        await customer.close()
        await agent.close()
        await supervisor.close()
        await bot.stop()
    }
}

/// The participant event names (`onJoined`, `onLoudestChanged`, ...) a client received.
final class RoomEventNames: Sendable {
    private let box = Mutex<[String]>([])
    init(_ client: CTLiveClient) {
        client.onEvent { [weak self] event in
            if case .participant(let p) = event { self?.box.withLock { $0.append(p.eventName) } }
        }
    }
    var names: [String] { box.withLock { $0 } }
}
