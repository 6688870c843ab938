import CTLive
import CTLiveMedia
import Foundation
import Hub
import Media
import SessionKit
import TestKit
import Recorder
import Signaling
import Synchronization
import XCTest
import ZeroMQ

final class CrashAndBadInputTests: XCTestCase {
    func testBotKilledWithSIGKILLLeavesAPlayableFinishedRecording() async throws {
        let root = try temporaryDirectory(self)
        let session = try LiveSession()
        let bot = Process()
        bot.executableURL = URL(fileURLWithPath: ctliveExecutable)
        bot.arguments = ["bot", "--hub", session.endpoint, "--recordings", root, "--composite", "live", "--log-level", "error"]
        bot.standardOutput = FileHandle.nullDevice
        bot.standardError = FileHandle.nullDevice
        try bot.run()
        defer { if bot.isRunning { kill(bot.processIdentifier, SIGKILL) } }
        try await eventually("the bot to connect") { session.hub.statistics.connectedClients >= 1 }

        let agent = try await session.acceptingAgent("A1", color: "red", tone: 660)
        let customer = try await session.participant(.customer, "C1", color: "blue", tone: 440)
        let contact = try await customer.openContact(agent: "A1")
        try await contact.requestVideoUpgrade(divID: "p", useAudio: true, useVideo: true)
        try await eventually("the room") { contact.roomID != nil }
        try await Task.sleep(for: .seconds(5))
        kill(bot.processIdentifier, SIGKILL)
        bot.waitUntilExit()
        XCTAssertEqual(bot.terminationReason, .uncaughtSignal)

        let file = try XCTUnwrap(FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String }.first { $0.hasSuffix("recording.mp4") })
        let path = root + "/" + file
        // The session's recording worker outlives the bot by a moment: told by the kernel that its parent
        // died, it finishes the file and says how the recording ended.
        let manifestPath = (path as NSString).deletingLastPathComponent + "/manifest.json"
        func manifest() throws -> RecordingManifest {
            try JSONDecoder().decode(RecordingManifest.self, from: Data(contentsOf: URL(fileURLWithPath: manifestPath)))
        }
        try await eventually("the worker to finish the file") { (try? manifest().status) != "recording" }
        XCTAssertEqual(try manifest().status, "interrupted")
        XCTAssertEqual(try manifest().interruption, "the bot went away")
        XCTAssertNotNil(try manifest().sha256)
        let info = try probe(path)
        XCTAssertEqual(info.videoCodec, "h264")
        XCTAssertEqual(info.audioCodec, "aac")
        let decoded = try decode(path, picturesAt: [1.0])
        XCTAssertEqual(decoded.decodeErrors, 0)
        XCTAssertGreaterThanOrEqual(decoded.lastPictureTime, 5 - 2.0 - 0.6, "decodes up to at most 2 s before the kill (plus the jitter buffer)")
        XCTAssertNotNil(decoded.pictures[1.0])
        await customer.close()
        await agent.close()
    }

    func testMalformedMediaIsDroppedAndCountedWhileTheRecordingGoesOn() async throws {
        let root = try temporaryDirectory(self)
        let session = try LiveSession()
        let bot = try await session.bot(root: root)
        let agent = try await session.acceptingAgent("A1", color: "red", tone: 660)
        // A customer that publishes nothing itself; a raw socket sends garbage in its name.
        var configuration = ClientConfiguration(hub: session.endpoint, hello: Hello(role: .customer, userId: "C1"))
        configuration.engagesMedia = false
        let customer = CTLiveClient(configuration: configuration, logger: quietLogger("C1"))
        try await customer.connect()
        let tokens = TokenCatcher(customer)
        let contact = try await customer.openContact(agent: "A1")
        try await contact.requestVideoUpgrade(divID: "p", useAudio: true, useVideo: true)
        try await eventually("the media token") { tokens.started != nil }
        let started = try XCTUnwrap(tokens.started)

        let raw = try Socket(try Context(), .dealer)
        try raw.setLinger(milliseconds: 0)
        try raw.connect(try XCTUnwrap(started.mediaEndpoint))
        try raw.send([WireCodec.encode(MediaHello(token: try XCTUnwrap(started.mediaToken)))])
        try await Task.sleep(for: .milliseconds(300))
        // Labelled H.264 but garbage; then a packet on a track never announced; then bytes that are no JSON.
        try raw.send([WireCodec.encode(TrackAnnouncement(track: "video", kind: "video", codec: "h264", timeBaseNum: 1, timeBaseDen: 90000,
                                                          width: 320, height: 180, sampleRate: 0, channels: 0, extradata: ""))])
        for i in 0..<30 {
            let garbage = Data((0..<700).map { _ in UInt8.random(in: 0...255) })
            try raw.send([WireCodec.encode(PacketHeader(track: "video", pts: Int64(i) * 6000, dts: Int64(i) * 6000, duration: 6000, key: i == 0, capturedUs: 0)), garbage])
            try await Task.sleep(for: .milliseconds(66))
        }
        try raw.send([WireCodec.encode(PacketHeader(track: "nope", pts: 0, dts: 0, duration: 0, key: true, capturedUs: 0)), Data([1, 2, 3])])
        try raw.send([Data("\u{1}\u{2}not json".utf8)])
        try await Task.sleep(for: .seconds(1))
        try await contact.videoDisconnectAndDestruct()
        try await agent.contacts[contact.id]!.videoDisconnectAndDestruct()
        try await eventually("the finished recording") { !bot.finished.isEmpty }

        let result = bot.finished[0]
        XCTAssertGreaterThan(result.errors.decodeErrors + result.errors.malformedPackets, 0, "garbage counted: \(result.errors)")
        XCTAssertGreaterThanOrEqual(session.hub.statistics.mediaRefused, 2, "the relay refused the unannounced track and the non-JSON")
        let manifest = try JSONDecoder().decode(RecordingManifest.self, from: Data(contentsOf: URL(fileURLWithPath: result.manifestPath)))
        XCTAssertFalse(manifest.problems.isEmpty, "the problem is marked in the manifest")
        // The agent's good media is recorded all the same.
        let decoded = try decode(result.recordingPath, picturesAt: [2.0])
        XCTAssertTrue(decoded.hasTone(660, 1, 2.5))
        let agentTile = try XCTUnwrap(tiles(manifest, at: 2.0).first { $0.participantID == "agent:A1" })
        assertColor(decoded.pictures[2.0], agentTile.x + agentTile.width / 2, agentTile.y + agentTile.height / 2, RGB(parsing: "red")!, "agent")
        await customer.close()
        await agent.close()
        await bot.stop()
    }
}

/// Catches the `roomStarted` a client receives (its media endpoint and token).
final class TokenCatcher: Sendable {
    private let box = Mutex<RoomStarted?>(nil)
    init(_ client: CTLiveClient) {
        client.onEvent { [weak self] event in
            if case .roomStarted(let started) = event { self?.box.withLock { $0 = started } }
        }
    }
    var started: RoomStarted? { box.withLock { $0 } }
}
