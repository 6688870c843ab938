import Bot
import Foundation
import Recorder
import SessionKit
import TestKit
import XCTest

/// Browser media over WebRTC: Chromium's own RTCPeerConnection to a real Janus, driven by a real `ctlive web`,
/// with the hub's relay, a native agent and the recorder behind it; the WebSocket fallback when ICE cannot
/// connect; TURN through a real coturn.
final class WebRTCTests: XCTestCase {
    private func toneFile(_ root: String, hz: Int) throws -> String {
        let path = root + "/mic-\(hz).wav"
        try runProgram("/usr/bin/ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=\(hz):duration=60", "-ac", "1", "-ar", "48000", path])
        return path
    }

    private static let panelRect = "(() => { const r = document.getElementById('videoPanel').getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })()"

    /// What the page's PeerConnections did, from their own statistics: frames each way, and the ICE candidate types in use.
    private static let rtcStats = """
        (async () => { const rtc = window.ctliveContact?.room?.rtc; if (!rtc) return null;
          const out = { sentFrames: 0, receivedFrames: 0, localTypes: [] };
          for (const pc of [rtc.publisher, ...rtc.viewers.values()].filter(Boolean)) {
            const stats = await pc.getStats(); const byID = new Map(); stats.forEach((s) => byID.set(s.id, s));
            stats.forEach((s) => {
              if (s.type === "outbound-rtp" && s.kind === "video") out.sentFrames += s.framesEncoded || 0;
              if (s.type === "inbound-rtp" && s.kind === "video") out.receivedFrames += s.framesDecoded || 0;
              if (s.type === "transport" && s.selectedCandidatePairId) {
                const pair = byID.get(s.selectedCandidatePairId); const local = pair && byID.get(pair.localCandidateId);
                if (local) out.localTypes.push(local.candidateType);
              }
            });
          }
          return out; })()
        """

    func testABrowserOverWebRTCIsSeenHeardAndRecordedWithItsOwnH264() async throws {
        let root = try temporaryDirectory(self)
        _ = try machineAddress()
        let janus = try JanusServer(self, root: root)
        let session = try LiveSession()
        let bot = try await session.bot(root: root, size: (640, 360))
        let agent = try await session.acceptingAgent("A1", color: "blue", tone: 440)
        let web = try WebProcess(self, hub: session.endpoint, arguments: ["--janus", janus.api])
        let screenshot = root + "/customer.png"
        var browser = Browser()
        browser.hold = 3
        browser.chromiumArguments = ["--use-file-for-fake-audio-capture=\(try toneFile(root, hz: 880))"]
        let outcome = try browser.run([Browser.Page(
            name: "customer", url: "\(web.base)/customer.html?user=C1&agent=A1&autostart=1&audioProcessing=0&media=webrtc",
            until: "window.ctliveContact?.mediaStats()?.peers['agent:A1']?.framesDecoded > 30 && window.ctliveEvents.some(e => e.status === 'recording')",
            results: ["window.ctliveContact.mediaStats()", Self.panelRect, Self.rtcStats], screenshot: screenshot)])
        XCTAssertTrue(outcome.ok, "the page played the agent's video over WebRTC: \(outcome.error ?? "") \(outcome.console("customer"))")

        let stats = try XCTUnwrap(outcome.result("customer", "window.ctliveContact.mediaStats()") as? [String: Any])
        XCTAssertEqual(stats["transport"] as? String, "webrtc")
        let sent = try XCTUnwrap(stats["sent"] as? [String: Any])
        XCTAssertEqual(sent["sentVideo"] as? Int, 0, "no picture went over the WebSocket: \(sent)")
        XCTAssertEqual(sent["sentAudio"] as? Int, 0, "no sound either")
        let rtc = try XCTUnwrap(outcome.result("customer", Self.rtcStats) as? [String: Any], "the page has PeerConnections")
        XCTAssertGreaterThan(rtc["sentFrames"] as? Int ?? 0, 30, "the camera was encoded for its PeerConnection: \(rtc)")
        XCTAssertGreaterThan(rtc["receivedFrames"] as? Int ?? 0, 30, "the agent's picture was decoded from RTP: \(rtc)")

        // The agent's blue, from the native SDK through the hub and Janus, fills the panel.
        let rect = try XCTUnwrap(outcome.result("customer", Self.panelRect) as? [Double])
        let seen = try averageColor(png: screenshot, x: Int(rect[0] + rect[2] * 0.3), y: Int(rect[1] + rect[3] * 0.3),
                                    width: Int(rect[2] * 0.2), height: Int(rect[3] * 0.2))
        XCTAssertLessThan(seen.distance(to: blue), 60, "the agent's blue in the customer's panel: saw \(seen)")

        for contact in agent.contacts.values where contact.roomID != nil { try? await contact.videoDisconnectAndDestruct() }
        try await eventually("the recording", timeout: .seconds(20)) { !bot.finished.isEmpty }
        let result = bot.finished[0]
        let manifest = try JSONDecoder().decode(RecordingManifest.self, from: Data(contentsOf: URL(fileURLWithPath: result.manifestPath)))
        let customer = try XCTUnwrap(manifest.participants.first { $0.id == "customer:C1" })
        XCTAssertEqual(Set(customer.tracks.map(\.kind)), [.video, .audio], "the browser's camera and microphone reached the recorder over RTP")
        XCTAssertGreaterThan(customer.tracks.first { $0.kind == .video }?.packets ?? 0, 30)

        // The record kept the browser's own H.264: it decodes, and the picture moves (the fake camera's wedge turns).
        let tile = try XCTUnwrap(manifest.layoutChanges.last { $0.time <= 2 }?.tiles.first { $0.participantID == "customer:C1" }, "the customer has a tile")
        let times = [1.5, 2.0, 2.5, 3.0]
        let decoded = try decode(result.recordingPath, picturesAt: times)
        var differences = 0
        for y in stride(from: tile.y + 20, to: tile.y + tile.height - 20, by: 24) {
            for x in stride(from: tile.x + 20, to: tile.x + tile.width - 20, by: 24) {
                let colours = times.compactMap { decoded.pictures[$0]?.averageColor(x: x, y: y, size: 8) }
                if let first = colours.first, colours.contains(where: { $0.distance(to: first) > 60 }) { differences += 1 }
            }
        }
        XCTAssertGreaterThan(differences, 3, "the browser's picture changes from one second to the next in its tile")
        let heardFrom = (customer.tracks.first { $0.kind == .audio }?.announcedAt ?? 1) + 0.5
        XCTAssertTrue(decoded.hasTone(880, heardFrom, heardFrom + 2), "the browser's microphone (880 Hz, Opus over RTP) is in the recording")
        XCTAssertTrue(decoded.hasTone(440, heardFrom, heardFrom + 2), "and so is the agent (440 Hz)")
    }

    /// ICE that cannot connect (relay only, and no TURN server): the page says so and carries on over the WebSocket.
    func testWhenICECannotConnectTheMediaGoesOverTheWebSocket() async throws {
        let root = try temporaryDirectory(self)
        _ = try machineAddress()
        let janus = try JanusServer(self, root: root)
        let session = try LiveSession()
        _ = try await session.acceptingAgent("A1", color: "blue", tone: 440)
        let web = try WebProcess(self, hub: session.endpoint, arguments: ["--janus", janus.api, "--ice-timeout", "3"])
        var browser = Browser()
        let outcome = try browser.run([Browser.Page(
            name: "customer", url: "\(web.base)/customer.html?user=C1&agent=A1&autostart=1&iceTransportPolicy=relay",
            until: "window.ctliveContact?.mediaStats()?.transport === 'websocket' && window.ctliveContact.mediaStats().peers['agent:A1']?.framesDecoded > 30 && window.ctliveContact.mediaStats().sent.sentVideo > 30",
            results: ["window.ctliveContact.mediaStats()", "window.ctliveEvents.filter(e => e.type === 'media').map(e => e.transport || e.state)"])])
        XCTAssertTrue(outcome.ok, "the page fell back to the WebSocket and both pictures flow: \(outcome.error ?? "") \(outcome.console("customer"))")
        let transports = outcome.result("customer", "window.ctliveEvents.filter(e => e.type === 'media').map(e => e.transport || e.state)") as? [String] ?? []
        XCTAssertEqual(transports.filter { $0 == "webrtc" || $0 == "websocket" }, ["webrtc", "websocket"], "it tried WebRTC first: \(transports)")
    }

    /// Only relayed candidates allowed: the page reaches Janus through coturn, with credentials ctlive web minted
    /// from the TURN server's shared secret.
    func testTURNRelaysTheMediaWhenNothingElseIsAllowed() async throws {
        let root = try temporaryDirectory(self)
        _ = try machineAddress()
        let janus = try JanusServer(self, root: root)
        let turn = try TURNServer(self, root: root, address: try machineAddress())
        let session = try LiveSession()
        _ = try await session.acceptingAgent("A1", color: "blue", tone: 440)
        let web = try WebProcess(self, hub: session.endpoint, arguments: [
            "--janus", janus.api, "--ice-server", "turn:\(try machineAddress()):\(turn.port)?transport=udp", "--turn-secret", turn.secretPath])
        var browser = Browser()
        let outcome = try browser.run([Browser.Page(
            name: "customer", url: "\(web.base)/customer.html?user=C1&agent=A1&autostart=1&iceTransportPolicy=relay&media=webrtc",
            until: "window.ctliveContact?.mediaStats()?.peers['agent:A1']?.framesDecoded > 30",
            results: ["window.ctliveContact.mediaStats().transport", Self.rtcStats])])
        XCTAssertTrue(outcome.ok, "the agent's picture came through the relay: \(outcome.error ?? "") \(outcome.console("customer")) \(turn.server.log.suffix(2000))")
        XCTAssertEqual(outcome.result("customer", "window.ctliveContact.mediaStats().transport") as? String, "webrtc")
        let rtc = try XCTUnwrap(outcome.result("customer", Self.rtcStats) as? [String: Any])
        let types = rtc["localTypes"] as? [String] ?? []
        XCTAssertFalse(types.isEmpty, "the PeerConnections chose candidate pairs: \(rtc)")
        XCTAssertTrue(types.allSatisfy { $0 == "relay" }, "every PeerConnection goes through TURN: \(types)")
    }
}
