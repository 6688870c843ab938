import CTLive
import Foundation
import Hub
import Signaling
import XCTest
import ZeroMQ

final class RobustnessTests: XCTestCase {
    func testMalformedUnknownAndOversizedFramesGetErrorsAndTheHubKeepsServing() async throws {
        let harness = try HubHarness()
        let peer = try RawPeer(harness.endpoint)
        func expectError(_ text: String, _ code: String, file: StaticString = #filePath, line: UInt = #line) throws {
            try peer.send(text)
            let reply = try peer.receive()
            XCTAssertEqual(reply["type"] as? String, "error", file: file, line: line)
            XCTAssertEqual(reply["code"] as? String, code, "\(reply)", file: file, line: line)
        }
        try expectError("\u{0}\u{1}garbage", "bad_json")
        try expectError(#"{"v":1,"type":"ping""#, "bad_json")
        try expectError(#"{"v":7,"type":"hello","id":1}"#, "unsupported_version")
        try expectError(#"{"v":1,"type":"teleport","id":2}"#, "unknown_type")
        try expectError(#"{"v":1,"type":"requestVideoUpgrade","id":3,"contactID":"c","divID":"d","useAudio":true,"useVideo":true}"#, "hello_required")
        try expectError(#"{"v":1,"type":"hello","id":4,"role":"customer"}"#, "invalid_field")
        try expectError(String(repeating: " ", count: 70_000) + "{}", "too_large")
        try peer.send(frames: [Data("{}".utf8), Data("{}".utf8)])
        XCTAssertEqual(try peer.receive()["code"] as? String, "multipart")
        // The reply names the request it answers.
        try peer.send(#"{"v":1,"type":"openContact","id":99}"#)
        XCTAssertEqual(try peer.receive()["re"] as? Int, 99)

        // The same peer can still say hello, and a new client is served normally.
        try peer.send(#"{"v":1,"type":"hello","id":5,"role":"agent","userId":"A1"}"#)
        let welcome = try peer.receive()
        XCTAssertEqual(welcome["type"] as? String, "welcome")
        XCTAssertEqual(welcome["re"] as? Int, 5)
        let customer = try await harness.connected(.customer, "C1")
        _ = try await customer.openContact(agent: "A1")
        XCTAssertEqual(try peer.receive()["type"] as? String, "contactOpened")
        XCTAssertGreaterThanOrEqual(harness.hub.statistics.refused, 8)
    }

    func testAClientBeyondTheTransportLimitIsCutOffWithoutHarm() async throws {
        let harness = try HubHarness()
        let peer = try RawPeer(harness.endpoint)
        try peer.send(frames: [Data(count: Int(SignalingProtocol.transportMaxMessageBytes) + 1)])
        // The transport cuts the connection before the hub reads the frame: had the hub read it, its
        // `too_large` error would come first, in order. The peer's socket reconnects and is served anew.
        var first: [String: Any]?
        for attempt in 1...40 where first == nil {
            try peer.send(#"{"v":1,"type":"hello","id":\#(attempt),"role":"customer","userId":"C9"}"#)
            first = try? peer.receive(timeoutMilliseconds: 250)
        }
        XCTAssertEqual(first?["type"] as? String, "welcome", "the oversized frame never reached the hub: \(first ?? [:])")
        let customer = try await harness.connected(.customer, "C1")
        try await customer.request(Ping())
    }

    func testDeadClientIsDetectedByHeartbeatAndLeavesContactAndRoom() async throws {
        let harness = try HubHarness(heartbeatTimeout: .milliseconds(800))
        // A raw agent that says hello, accepts, and then goes silent (no pings).
        let silentAgent = try RawPeer(harness.endpoint)
        try silentAgent.send(#"{"v":1,"type":"hello","id":1,"role":"agent","userId":"A1"}"#)
        XCTAssertEqual(try silentAgent.receive()["type"] as? String, "welcome")
        let customer = try await harness.connected(.customer, "C1")
        let events = EventReader(customer)
        let contact = try await customer.openContact(agent: "A1")
        XCTAssertEqual(try silentAgent.receive()["type"] as? String, "contactOpened")
        try await contact.requestVideoUpgrade(divID: "p", useAudio: true, useVideo: true)
        XCTAssertEqual(try silentAgent.receive()["type"] as? String, "requestVideoUpgrade")
        try silentAgent.send(#"{"v":1,"type":"responseVideoUpgrade","id":2,"contactID":"\#(contact.id)","response":true,"divID":"p"}"#)
        try await events.next("onJoined agent") {
            if case .participant(let p) = $0 { p.eventName == "onJoined" && p.participant?.id == "agent:A1" } else { false }
        }
        let started = ContinuousClock.now
        try await events.next("onLeft agent", timeout: .seconds(5)) {
            if case .participant(let p) = $0 { p.eventName == "onLeft" && p.participant?.id == "agent:A1" } else { false }
        }
        try await events.next("contactClosed") {
            if case .contactClosed(let c) = $0 { c.reason == "connection lost" } else { false }
        }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(4), "dead agent noticed within a few seconds")
        // The customer, who pings, is still connected.
        try await customer.request(Ping())
    }

    func testAClientThatDoesNotReconnectNoticesADeadHub() async throws {
        let harness = try HubHarness()
        let customer = harness.client(.customer, "C1", reconnects: false)
        try await customer.connect()
        let events = EventReader(customer)
        harness.hub.stop()
        try await events.next("disconnected", timeout: .seconds(6)) { $0.name == "disconnected" }
    }

    func testUnreachableHubTimesOut() async throws {
        var configuration = ClientConfiguration(hub: "tcp://127.0.0.1:1", hello: Hello(role: .customer, userId: "C1"))
        configuration.replyTimeout = .milliseconds(300)
        let client = CTLiveClient(configuration: configuration)
        do {
            try await client.connect()
            XCTFail("connected to nothing")
        } catch {
            guard case .timedOut = error else { return XCTFail("\(error)") }
        }
    }

    func testNonLocalEndpointWithoutKeysIsRefused() {
        var configuration = HubConfiguration()
        configuration.signalingEndpoint = "tcp://0.0.0.0:0"
        let hub = Hub(configuration: configuration, logger: .init(label: "test"))
        XCTAssertThrowsError(try hub.start()) { error in
            XCTAssertTrue("\(error)".contains("--insecure"), "\(error)")
        }
    }
}
