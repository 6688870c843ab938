@testable import Bot
import CTLive
import Foundation
import Logging
import ObjectStore
import SessionKit
import Signaling
import Spool
import Synchronization
import TestKit
import XCTest

/// A full spool keeps rooms away, as a full disk does: with the store down, a bot whose recordings wait beyond
/// `--spool-limit` takes no new room (another bot records it), and takes rooms again once the store took them.
final class SpoolLimitTests: XCTestCase {
    /// The recorder named in each `recordingStatus` a client heard, in order.
    final class Recorders: Sendable {
        private let heard = Mutex<[String?]>([])
        init(_ client: CTLiveClient) {
            client.onEvent { [weak self] event in
                if case .recordingStatus(let status) = event, status.status == .recording { self?.heard.withLock { $0.append(status.recorder) } }
            }
        }
        var last: String?? { heard.withLock { $0.last } }
    }

    func testAFullSpoolKeepsRoomsAwayUntilTheStoreTakesIt() async throws {
        let directory = try temporaryDirectory(self)
        let store = try SeaweedFS(self)  // not started: the store is down from the start
        let session = try LiveSession()
        var configuration = BotConfiguration(hub: session.endpoint, userId: "spooling")
        configuration.recordingsRoot = directory + "/spooling"
        configuration.composite = .live
        (configuration.width, configuration.height) = (320, 180)
        configuration.spool = RecordingUploader(root: configuration.recordingsRoot, store: S3Client(endpoint: store.endpoint, credentials: store.credentials),
                                                location: StorageLocation(bucket: "fleet", prefix: "site-s"), keepLocal: false, logger: quietLogger("spool"))
        configuration.spoolLimitBytes = 4096
        let spooling = RecorderBot(configuration: configuration, policy: nil, logger: quietLogger("spooling"))
        try await spooling.start()
        let agent = try await session.acceptingAgent("A1", color: "red", tone: 660)

        // A first session fills the spool past its limit: the store cannot take it.
        let first = try await session.participant(.customer, "C1", color: "blue", tone: 440)
        let firstRecorder = Recorders(first)
        let contact = try await first.openContact(agent: "A1")
        try await contact.requestVideoUpgrade(divID: "videoPanel", useAudio: true, useVideo: true)
        try await eventually("recorded by the spooling bot", timeout: .seconds(10)) { firstRecorder.last == "recorder:spooling" }
        try await Task.sleep(for: .seconds(3))
        let room = try XCTUnwrap(contact.roomID)
        try await contact.videoDisconnectAndDestruct()
        try await eventually("the spooling bot takes no rooms", timeout: .seconds(30)) { spooling.notAccepting.withLock { $0 } != nil }
        let reason = spooling.notAccepting.withLock { $0 } ?? ""
        XCTAssertTrue(reason.contains("the object store has not taken yet"), reason)

        // The next room goes to another bot.
        let spare = try await session.bot(root: directory + "/spare", size: (320, 180))
        try await Task.sleep(for: .seconds(1))
        let agent2 = try await session.acceptingAgent("A2", color: "green", tone: 880)
        let second = try await session.participant(.customer, "C2", color: "yellow", tone: 990)
        let secondRecorder = Recorders(second)
        try await second.openContact(agent: "A2").requestVideoUpgrade(divID: "videoPanel", useAudio: true, useVideo: true)
        try await eventually("recorded by the spare bot", timeout: .seconds(10)) { secondRecorder.last != nil }
        XCTAssertEqual(secondRecorder.last, "recorder:\(spare.configuration.userId)")

        // The store comes up and takes the spool: the bot takes rooms again by itself (the spare one has left: only it can).
        try await store.start()
        try await eventually("the spool drained and rooms taken again", timeout: .seconds(90)) { spooling.notAccepting.withLock { $0 } == nil }
        XCTAssertEqual(configuration.spool?.backlogBytes, 0)
        await spare.stop()
        let agent3 = try await session.acceptingAgent("A3", color: "white", tone: 550)
        let third = try await session.participant(.customer, "C3", color: "blue", tone: 330)
        let thirdRecorder = Recorders(third)
        try await third.openContact(agent: "A3").requestVideoUpgrade(divID: "videoPanel", useAudio: true, useVideo: true)
        try await eventually("recorded by the spooling bot again", timeout: .seconds(10)) { thirdRecorder.last != nil }
        XCTAssertEqual(thirdRecorder.last, "recorder:spooling")
        let stored = try await S3Client(endpoint: store.endpoint, credentials: store.credentials).listObjects(bucket: "fleet", prefix: "site-s/")
        XCTAssertTrue(stored.contains { $0.key.hasSuffix("/\(room)/originals.ctlo") }, "\(stored.map(\.key))")
        await spooling.stop()
        withExtendedLifetime((agent, agent2, agent3, first, second, third)) {}
    }
}
