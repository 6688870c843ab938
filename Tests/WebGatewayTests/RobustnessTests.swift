import CTLive
import CTLiveMedia
import Foundation
import Media
import Recorder
import SessionKit
import Signaling
import Synchronization
import TestKit
import WebGateway
import XCTest

/// Peers no real browser would be, through a real `ctlive web`: one that stops reading, one that sends
/// garbage, one that vanishes. None of them slows or breaks anyone else.
final class GatewayRobustnessTests: XCTestCase {
    /// Says hello as a customer, opens a contact with `agent`, asks for video and joins the media plane on channel 0.
    private func joinRoom(_ socket: RawWebSocket, user: String, agent: String) throws {
        try socket.send(text: #"{"v":1,"type":"hello","id":1,"role":"customer","userId":"\#(user)"}"#)
        XCTAssertNotNil(try socket.receive(until: { if case .text(let t) = $0 { t.contains("welcome") } else { false } }), "welcome")
        try socket.send(text: #"{"v":1,"type":"openContact","id":2,"agent":"\#(agent)"}"#)
        guard case .text(let ok) = try socket.receive(until: { if case .text(let t) = $0 { t.contains(#""re":2"#) } else { false } }),
              let contactID = (try JSONSerialization.jsonObject(with: Data(ok.utf8)) as? [String: Any])?["contactID"] as? String else {
            return XCTFail("no contact")
        }
        try socket.send(text: #"{"v":1,"type":"requestVideoUpgrade","id":3,"contactID":"\#(contactID)","divID":"p","useAudio":true,"useVideo":true}"#)
        guard case .text(let started) = try socket.receive(until: { if case .text(let t) = $0 { t.contains("roomStarted") } else { false } }),
              let token = (try JSONSerialization.jsonObject(with: Data(started.utf8)) as? [String: Any])?["mediaToken"] as? String else {
            return XCTFail("no room")
        }
        try socket.send(opcode: 2, Array(BinaryFrames.encode(channel: 0, frames: [Data(#"{"v":1,"type":"mediaHello","token":"\#(token)"}"#.utf8)])))
    }

    /// A relayed packet: sender, its header's track, pts and key flag.
    private struct Relayed {
        var sender: String, track: String, pts: Int64, key: Bool
        init?(_ frame: RawWebSocket.Frame) {
            guard case .binary(let bytes) = frame, let decoded = try? BinaryFrames.decode(bytes, maximumFrames: 3), decoded.frames.count == 3,
                  let header = try? JSONSerialization.jsonObject(with: decoded.frames[1]) as? [String: Any],
                  let track = header["track"] as? String, let pts = (header["pts"] as? NSNumber)?.int64Value else { return nil }
            sender = String(decoding: decoded.frames[0], as: UTF8.self)
            self.track = track; self.pts = pts; key = header["key"] as? Bool == true
        }
    }

    func testABrowserThatStopsReadingLosesMediaAndResumesAtAKeyframeWhileTheRecorderMissesNothing() async throws {
        let root = try temporaryDirectory(self)
        // Sensor-like noise: a few Mbit/s, so that a reader that stops falls behind within a second. MPEG-4 part 2,
        // so the publisher re-encodes it to H.264 and can answer keyframe requests (H.264 would pass through).
        let input = root + "/noisy.mp4"
        try runProgram("/usr/bin/ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=20",
                                           "-vf", "noise=alls=30:allf=t", "-c:v", "mpeg4", "-q:v", "3", input])
        let session = try LiveSession()
        let bot = try await session.bot(root: root, size: (640, 360))
        var configuration = ClientConfiguration(hub: session.endpoint, hello: Hello(role: .agent, userId: "A1"))
        configuration.media = MediaSourceOptions(kind: .file(input))
        let agent = CTLiveClient(configuration: configuration, logger: quietLogger("A1"))
        try await agent.connect()
        agent.onEvent { event in
            guard case .requestVideoUpgrade(let request) = event else { return }
            Task { try await agent.request(ResponseVideoUpgrade(contactID: request.contactID, response: true, divID: "p")) }
        }
        let web = try WebProcess(self, hub: session.endpoint, arguments: ["--media-queue", "128"])
        let slow = try RawWebSocket(port: web.port)
        try joinRoom(slow, user: "C1", agent: "A1")
        var seen: [String] = []
        let first = try slow.receive(until: { frame in
            seen.append("\(frame)".prefix(200).description)
            return Relayed(frame)?.track == "video"
        }, timeout: 10)
        XCTAssertNotNil(first, "the agent's video arrives: \(seen.prefix(20))")

        // Stop reading for 5 s, then read everything.
        let stalledAt = ContinuousClock.now
        try await Task.sleep(for: .seconds(5))
        var received: [Relayed] = []
        var other: [String] = []
        while let frame = try slow.receive(timeout: 1.5) {
            if Relayed(frame) == nil { other.append("\(frame)".prefix(120).description) }
            if let packet = Relayed(frame), packet.sender == "agent:A1", packet.track == "video" { received.append(packet) }
            if ContinuousClock.now - stalledAt > .seconds(12) { break }
        }
        // Where media was dropped, the next packet the browser got is a keyframe.
        let steps = zip(received, received.dropFirst()).map { ($1.pts - $0.pts, $1) }
        guard steps.count > 10 else { return XCTFail("only \(received.count) video packets after the stall; also \(other); gateway: \(web.stop())") }
        let typical = steps.map(\.0).sorted()[steps.count / 2]
        let gaps = steps.filter { $0.0 > typical * 4 }
        XCTAssertFalse(gaps.isEmpty, "media was dropped for the reader that stopped (steps of \(typical); \(received.count) packets)")
        for (gap, packet) in gaps { XCTAssertTrue(packet.key, "after a gap of \(gap) the browser resumes at a keyframe") }

        // The recorder, on the same room, missed nothing meanwhile.
        await agent.close()
        slow.vanish()
        try await eventually("the recording", timeout: .seconds(20)) { !bot.finished.isEmpty }
        let manifest = try JSONDecoder().decode(RecordingManifest.self, from: Data(contentsOf: URL(fileURLWithPath: bot.finished[0].manifestPath)))
        let agentEntry = try XCTUnwrap(manifest.participants.first { $0.id == "agent:A1" })
        let agentVideo = try XCTUnwrap(agentEntry.tracks.first { $0.kind == .video })
        let seconds: Double = (agentEntry.leftAt ?? manifest.durationSeconds ?? 0) - agentEntry.joinedAt
        let expected: Double = seconds * 30 * 0.85
        XCTAssertGreaterThan(Double(agentVideo.packets), expected, "the recorder got the agent's video at full rate (\(agentVideo.packets) in \(seconds) s)")
        let statistics = web.stop()
        XCTAssertTrue(statistics.range(of: #"mediaDroppedToBrowsers [1-9]"#, options: .regularExpression) != nil, statistics)
        XCTAssertTrue(statistics.range(of: #"keyframeRequests [1-9]"#, options: .regularExpression) != nil, statistics)
    }

    func testGarbageAndOversizedMessagesAreRefusedAndAVanishedBrowserIsAConnectionLost() async throws {
        let session = try LiveSession()
        let agent = try await session.acceptingAgent("A1", color: "blue", tone: 440)
        let closed = Mutex<[String]>([])
        agent.onEvent { event in
            if case .contactClosed(let close) = event { closed.withLock { $0.append(close.reason) } }
        }
        let web = try WebProcess(self, hub: session.endpoint)
        let browser = try RawWebSocket(port: web.port)
        try browser.send(text: "not json")
        guard case .text(let notJSON) = try browser.receive() else { return XCTFail("no reply") }
        XCTAssertTrue(notJSON.contains("bad_json"), "the hub's own refusal, through the gateway: \(notJSON)")
        try browser.send(text: #"{"v":1,"type":"ping","id":7,"pad":""# + String(repeating: "x", count: 70_000) + #""}"#)
        guard case .text(let tooLarge) = try browser.receive() else { return XCTFail("no reply") }
        XCTAssertTrue(tooLarge.contains("too_large"), tooLarge)
        try browser.send(opcode: 2, [0, 1, 0, 0, 0])
        XCTAssertTrue(try browser.receive(until: { if case .close = $0 { true } else { false } }) != nil, "a malformed binary message ends the connection")

        // Another browser says hello, opens a contact and vanishes without a word: the agent hears "connection lost".
        let vanishing = try RawWebSocket(port: web.port)
        try vanishing.send(text: #"{"v":1,"type":"hello","id":1,"role":"customer","userId":"C9"}"#)
        _ = try vanishing.receive()
        try vanishing.send(text: #"{"v":1,"type":"openContact","id":2,"agent":"A1"}"#)
        _ = try vanishing.receive()
        try await eventually("the agent has the contact") { !agent.contacts.isEmpty }
        vanishing.vanish()
        try await eventually("connection lost", timeout: .seconds(10)) { closed.withLock { $0 } == ["connection lost"] }

        // The gateway is still there for the next browser.
        let next = try RawWebSocket(port: web.port)
        try next.send(text: #"{"v":1,"type":"hello","id":1,"role":"customer","userId":"C10"}"#)
        guard case .text(let welcome) = try next.receive() else { return XCTFail("no welcome") }
        XCTAssertTrue(welcome.contains("welcome"), welcome)
    }
}
