import Bot
import CTLive
import Foundation
import Media
import Recorder
import SessionKit
import Signaling
import Synchronization
import TestKit
import XCTest

/// Real browsers (headless Chromium, fake camera and microphone, WebCodecs) as participants, through a
/// real `ctlive web` process, with a real hub, SDK clients and the recorder bot.
final class BrowserTests: XCTestCase {
    /// The events a page kept, as `type` or `type:eventName`, and the events themselves.
    private func events(_ outcome: Browser.Outcome, _ page: String) -> [[String: Any]] {
        outcome.result(page, "window.ctliveEvents") as? [[String: Any]] ?? []
    }

    private func names(_ events: [[String: Any]]) -> [String] {
        events.map { event in
            [event["type"] as? String, event["eventName"] as? String, event["status"] as? String].compactMap { $0 }.joined(separator: ":")
        }
    }

    /// A sine tone file for the fake microphone, so the recording can tell the browser's sound from the others'.
    private func toneFile(_ root: String, hz: Int) throws -> String {
        let path = root + "/mic-\(hz).wav"
        try runProgram("/usr/bin/ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=\(hz):duration=60", "-ac", "1", "-ar", "48000", path])
        return path
    }

    private static let panelRect = "(() => { const r = document.getElementById(PANEL).getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })()"

    func testABrowserCustomerChatsEscalatesToAnAgentAndIsRecorded() async throws {
        let root = try temporaryDirectory(self)
        let session = try LiveSession()
        let bot = try await session.bot(root: root, size: (640, 360))
        let agent = try await session.acceptingAgent("A1", color: "blue", tone: 440)
        let chatHeard = Mutex<[String]>([])
        agent.onEvent { event in
            if case .chat(let chat) = event { chatHeard.withLock { $0.append("\(chat.from): \(chat.text)") } }
        }
        let web = try WebProcess(self, hub: session.endpoint)
        let screenshot = root + "/customer.png"
        var browser = Browser()
        browser.hold = 3
        browser.chromiumArguments = ["--use-file-for-fake-audio-capture=\(try toneFile(root, hz: 880))"]
        let panel = Self.panelRect.replacingOccurrences(of: "PANEL", with: "'videoPanel'")
        let outcome = try browser.run([Browser.Page(
            name: "customer", url: "\(web.base)/customer.html?user=C1&agent=A1&autostart=1&audioProcessing=0",
            until: "window.ctliveContact?.mediaStats()?.peers['agent:A1']?.framesDecoded > 30 && window.ctliveEvents.some(e => e.status === 'recording')",
            results: ["window.ctliveEvents", "window.ctliveContact.mediaStats()", panel], screenshot: screenshot)])
        XCTAssertTrue(outcome.ok, "the page played the agent's video and heard it was recorded: \(outcome.error ?? "") \(outcome.console("customer"))")
        let heard = names(events(outcome, "customer"))
        for expected in ["welcome", "contactOpened", "chat", "responseVideoUpgrade", "roomStarted", "participant:onJoined",
                         "participant:onDynamicChanged", "recordingStatus:recording"] {
            XCTAssertTrue(heard.contains(expected), "the page heard \(expected): \(heard)")
        }
        let answer = events(outcome, "customer").first { $0["type"] as? String == "responseVideoUpgrade" }
        XCTAssertEqual(answer?["response"] as? Bool, true, "event.response")
        let joined = events(outcome, "customer").filter { $0["eventName"] as? String == "onJoined" }
            .compactMap { ($0["participant"] as? [String: Any])?["id"] as? String }
        XCTAssertTrue(joined.contains("agent:A1"), "onJoined names the agent: \(joined)")
        XCTAssertEqual(chatHeard.withLock { $0 }, ["customer:C1: hello from the browser"], "the agent read the browser's chat line")

        // The panel shows the agent's test colour (its tile fills the panel; the page's own camera is a corner inset).
        let rect = try XCTUnwrap(outcome.result("customer", panel) as? [Double])
        let seen = try averageColor(png: screenshot, x: Int(rect[0] + rect[2] * 0.3), y: Int(rect[1] + rect[3] * 0.3),
                                    width: Int(rect[2] * 0.2), height: Int(rect[3] * 0.2))
        XCTAssertLessThan(seen.distance(to: blue), 60, "the agent's blue in the customer's panel: saw \(seen)")
        let stats = try XCTUnwrap(outcome.result("customer", "window.ctliveContact.mediaStats()") as? [String: Any])
        let sent = try XCTUnwrap(stats["sent"] as? [String: Any])
        XCTAssertGreaterThan(sent["sentVideo"] as? Int ?? 0, 20, "the browser published its camera: \(sent)")
        XCTAssertGreaterThan(sent["sentAudio"] as? Int ?? 0, 50, "and its microphone")

        // The browser is gone (the hub takes it as lost within its heartbeat timeout); the agent hangs up.
        for contact in agent.contacts.values where contact.roomID != nil { try? await contact.videoDisconnectAndDestruct() }
        try await eventually("the recording", timeout: .seconds(20)) { !bot.finished.isEmpty }
        let result = bot.finished[0]
        let manifest = try JSONDecoder().decode(RecordingManifest.self, from: Data(contentsOf: URL(fileURLWithPath: result.manifestPath)))
        let customer = try XCTUnwrap(manifest.participants.first { $0.id == "customer:C1" })
        XCTAssertEqual(Set(customer.tracks.map(\.kind)), [.video, .audio], "the browser's camera and microphone reached the recorder")
        XCTAssertGreaterThan(customer.tracks.first { $0.kind == .video }?.packets ?? 0, 30)

        // The browser's camera picture moves (Chromium's fake camera turns a wedge), and its tone is in the mix.
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
        // From half a second after the browser's microphone track reached the recorder, for two seconds.
        let heardFrom = (customer.tracks.first { $0.kind == .audio }?.announcedAt ?? 1) + 0.5
        XCTAssertTrue(decoded.hasTone(880, heardFrom, heardFrom + 2),
                      "the browser's microphone (880 Hz) is heard in the recording from \(heardFrom) s (\(manifest.durationSeconds ?? 0) s long)")
        XCTAssertTrue(decoded.hasTone(440, heardFrom, heardFrom + 2), "and so is the agent (440 Hz)")
    }

    func testABrowserFindsARestartedHubAgain() async throws {
        let session = try LiveSession()
        let web = try WebProcess(self, hub: session.endpoint)
        let browser = Browser(timeout: 30)
        let url = "\(web.base)/customer.html?user=C1&agent=A1"
        let run = Task.detached {
            try browser.run([Browser.Page(name: "c", url: url, until: "window.ctliveEvents?.some(e => e.type === 'reconnected')",
                                          results: ["window.ctliveEvents.map(e => e.type)"])])
        }
        try await Task.sleep(for: .seconds(4))   // the page is up and welcomed
        try await session.restartHub(downtime: .seconds(1))
        let outcome = try await run.value
        XCTAssertTrue(outcome.ok, "the page said hello to the new hub: \(outcome.pages) \(outcome.console("c"))")
        let types = outcome.result("c", "window.ctliveEvents.map(e => e.type)") as? [String] ?? []
        XCTAssertEqual(types, ["welcome", "connectionLost", "reconnected"], "told it was forgotten, then welcomed again")
    }

    func testABrowserAgentAcceptsACustomerAndJoinsTheRoom() async throws {
        let session = try LiveSession()
        let customer = try await session.participant(.customer, "C1", color: "red", tone: 660)
        let heard = Mutex<[String]>([])
        customer.onEvent { event in heard.withLock { $0.append(event.name) } }
        // The agent is not connected yet: it hears of the contact and of the pending request when its page says hello.
        let contact = try await customer.openContact(agent: "A1")
        try await contact.sendChat("hello agent")
        try await contact.requestVideoUpgrade(divID: "videoPanel", useAudio: true, useVideo: true)
        let web = try WebProcess(self, hub: session.endpoint)
        let screenshot = try temporaryDirectory(self) + "/agent.png"
        var browser = Browser()
        browser.hold = 2
        let panel = Self.panelRect.replacingOccurrences(of: "PANEL", with: "'agentPanel'")
        let outcome = try browser.run([Browser.Page(
            name: "agent", url: "\(web.base)/agent.html?user=A1&autoAccept=1",
            until: "window.ctliveContact?.mediaStats()?.peers['customer:C1']?.framesDecoded > 20",
            results: ["window.ctliveEvents", panel], screenshot: screenshot)])
        XCTAssertTrue(outcome.ok, "the agent's page accepted and shows the customer: \(outcome.error ?? "") \(outcome.console("agent"))")
        let agentHeard = names(events(outcome, "agent"))
        for expected in ["welcome", "contactOpened", "requestVideoUpgrade", "responseVideoUpgrade", "roomStarted", "participant:onJoined"] {
            XCTAssertTrue(agentHeard.contains(expected), "the agent's page heard \(expected): \(agentHeard)")
        }
        let rect = try XCTUnwrap(outcome.result("agent", panel) as? [Double])
        let seen = try averageColor(png: screenshot, x: Int(rect[0] + rect[2] * 0.3), y: Int(rect[1] + rect[3] * 0.3),
                                    width: Int(rect[2] * 0.2), height: Int(rect[3] * 0.2))
        XCTAssertLessThan(seen.distance(to: red), 60, "the customer's red in the agent's panel: saw \(seen)")
        let customerHeard = heard.withLock { $0 }
        XCTAssertTrue(customerHeard.contains("responseVideoUpgrade"), "the SDK customer heard the browser agent's answer: \(customerHeard)")
        XCTAssertTrue(customerHeard.contains("roomStarted"), "\(customerHeard)")
    }
}
