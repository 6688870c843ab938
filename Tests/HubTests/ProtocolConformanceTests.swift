import CTLive
import Foundation
import Hub
import Signaling
import XCTest
import ZeroMQ

/// Points where a client written from docs/PROTOCOL.md alone once disagreed with the hub.
final class ProtocolConformanceTests: XCTestCase {
    /// A raw media connection: sends what it is told, reads what comes.
    private final class MediaSocket {
        let socket: Socket
        init(_ endpoint: String, curve: (CurveKeyPair, String)? = nil) throws {
            socket = try Socket(try Context(), .dealer)
            try socket.setLinger(milliseconds: 0)
            if let (pair, server) = curve { try socket.makeCurveClient(pair, serverKey: server) }
            try socket.connect(endpoint)
        }

        func send(_ json: String, payload: Data? = nil) throws { try socket.send([Data(json.utf8)] + (payload.map { [$0] } ?? [])) }

        /// Every message that arrives within `window`, each as its frames.
        func drain(for window: TimeInterval) throws -> [[Data]] {
            var poller = Poller()
            try poller.add(.socket(socket))
            var out: [[Data]] = []
            let end = Date().addingTimeInterval(window)
            while Date() < end {
                _ = try poller.poll(timeoutMilliseconds: 20)
                while let (message, _) = try socket.receive(wait: false) { out.append(message.frames) }
            }
            return out
        }

        /// The next message whose JSON frame has `type`, as a JSON object (waits up to 3 s).
        func next(_ type: String) throws -> [String: Any] {
            let end = Date().addingTimeInterval(3)
            while Date() < end {
                for frames in try drain(for: 0.05) {
                    let json = frames.count == 1 ? frames[0] : frames[1]
                    if let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any], object["type"] as? String == type { return object }
                }
            }
            throw ZMQError(operation: "no \(type)", errno: EAGAIN)
        }
    }

    /// A customer and an agent in a started room; returns both `roomStarted`s.
    private func room(_ harness: HubHarness, customer: CTLiveClient, agent: CTLiveClient) async throws -> (RoomStarted, RoomStarted) {
        let agentEvents = EventReader(agent)
        let customerEvents = EventReader(customer)
        let contact = try await customer.openContact(agent: agent.configuration.hello.userId)
        try await contact.requestVideoUpgrade(divID: "p", useAudio: true, useVideo: true)
        try await agentEvents.next("request") { $0.name == "requestVideoUpgrade" }
        try await agent.contacts[contact.id]!.responseVideoUpgrade(true, divID: "p")
        guard case .roomStarted(let c) = try await customerEvents.next("room", where: { $0.name == "roomStarted" }),
            case .roomStarted(let a) = try await agentEvents.next("room", where: { $0.name == "roomStarted" })
        else { throw CancellationError() }
        return (c, a)
    }

    private func hello(_ token: String, id: Int) -> String { #"{"v":1,"type":"mediaHello","id":\#(id),"token":"\#(token)"}"# }

    private func track(_ name: String) -> String {
        #"{"v":1,"type":"track","track":"\#(name)","kind":"video","codec":"h264","timeBaseNum":1,"timeBaseDen":90000,"width":320,"height":180,"sampleRate":0,"channels":0,"extradata":""}"#
    }

    func testAFrameThatIsNotUTF8IsRefusedAsBadJSON() throws {
        let harness = try HubHarness()
        let peer = try RawPeer(harness.endpoint)
        // A hello whose name holds a lone continuation byte, then the same text in UTF-16.
        var invalid = Data(#"{"v":1,"type":"hello","id":1,"role":"customer","userId":"C1","name":"x"#.utf8)
        invalid.append(contentsOf: [0x80, 0x22, 0x7d])
        try peer.send(frames: [invalid])
        let reply = try peer.receive()
        XCTAssertEqual(reply["type"] as? String, "error")
        XCTAssertEqual(reply["code"] as? String, "bad_json")
        XCTAssertEqual(reply["re"] as? Int, 1)
        try peer.send(frames: [#"{"v":1,"type":"ping","id":2}"#.data(using: .utf16LittleEndian)!])
        XCTAssertEqual(try peer.receive()["code"] as? String, "bad_json")
        // Nothing changed: the same connection may still say hello.
        try peer.send(#"{"v":1,"type":"hello","id":3,"role":"customer","userId":"C1"}"#)
        XCTAssertEqual(try peer.receive()["type"] as? String, "welcome")
    }

    func testAKeyframeRequestForOneTrackAsksForThatTrackOnly() async throws {
        let harness = try HubHarness()
        let agent = harness.client(.agent, "A1", engagesMedia: false)
        try await agent.connect()
        let customer = harness.client(.customer, "C1", engagesMedia: false)
        try await customer.connect()
        let (customerRoom, agentRoom) = try await room(harness, customer: customer, agent: agent)
        let publisher = try MediaSocket(customerRoom.mediaEndpoint!)
        try publisher.send(hello(customerRoom.mediaToken!, id: 1))
        _ = try publisher.next("mediaWelcome")
        try publisher.send(track("cam"))
        try publisher.send(track("screen"))
        let subscriber = try MediaSocket(agentRoom.mediaEndpoint!)
        try subscriber.send(hello(agentRoom.mediaToken!, id: 1))
        _ = try subscriber.next("mediaWelcome")
        // The newcomer's forced requests (every track), then past the one-second limit.
        _ = try publisher.drain(for: 1.2)
        try subscriber.send(#"{"v":1,"type":"keyframeRequest","track":"screen","participant":"customer:C1"}"#)
        let asked = try publisher.drain(for: 0.5).compactMap { frames -> String? in
            guard let object = try? JSONSerialization.jsonObject(with: frames[0]) as? [String: Any], object["type"] as? String == "keyframeRequest"
            else { return nil }
            return object["track"] as? String
        }
        XCTAssertEqual(asked, ["screen"])
    }

    func testTheDelegateThatAnswersGetsItsOwnCopyOfTheAnswer() async throws {
        let harness = try HubHarness()
        let agent = try await harness.connected(.agent, "A1")
        let delegate = try await harness.connected(.recorder, "R1", delegateFor: ["A1"], records: false)
        let delegateEvents = EventReader(delegate)
        let customer = harness.client(.customer, "C1", engagesMedia: false)
        try await customer.connect()
        let contact = try await customer.openContact(agent: "A1")
        try await contact.requestVideoUpgrade(divID: "p", useAudio: true, useVideo: true)
        guard case .requestVideoUpgrade(let request) = try await delegateEvents.next("request", where: { $0.name == "requestVideoUpgrade" }) else {
            return XCTFail()
        }
        try await delegate.request(ResponseVideoUpgrade(
            contactID: request.contactID, response: false, divID: "p", onBehalfOf: "A1", reason: "test", requestID: request.requestID))
        guard case .responseVideoUpgrade(let answer) = try await delegateEvents.next("own answer", where: { $0.name == "responseVideoUpgrade" }) else {
            return XCTFail()
        }
        XCTAssertEqual(answer.by, "policy:R1")
        XCTAssertTrue(answer.automatic)
        _ = agent
    }

    func testMediaRepliesCarryReAndATokenAdmitsOneConnection() async throws {
        let harness = try HubHarness()
        let agent = harness.client(.agent, "A1", engagesMedia: false)
        try await agent.connect()
        let customer = harness.client(.customer, "C1", engagesMedia: false)
        try await customer.connect()
        let (customerRoom, agentRoom) = try await room(harness, customer: customer, agent: agent)
        let first = try MediaSocket(customerRoom.mediaEndpoint!)
        try first.send(hello(customerRoom.mediaToken!, id: 41))
        XCTAssertEqual(try first.next("mediaWelcome")["re"] as? Int, 41)
        try first.send(#"{"v":1,"type":"packet","id":42,"track":"nope","pts":0,"dts":0,"duration":0,"key":true,"capturedUs":0}"#, payload: Data([1]))
        let error = try first.next("error")
        XCTAssertEqual(error["re"] as? Int, 42)

        // A second connection presenting the same token is refused; the first keeps its media.
        let second = try MediaSocket(customerRoom.mediaEndpoint!)
        try second.send(hello(customerRoom.mediaToken!, id: 43))
        let refused = try second.next("error")
        XCTAssertEqual(refused["code"] as? String, "forbidden")
        XCTAssertEqual(refused["re"] as? Int, 43)
        let subscriber = try MediaSocket(agentRoom.mediaEndpoint!)
        try subscriber.send(hello(agentRoom.mediaToken!, id: 1))
        _ = try subscriber.next("mediaWelcome")
        try first.send(track("cam"))
        XCTAssertEqual(try subscriber.next("track")["track"] as? String, "cam")
    }

    func testUnderCurveAMediaTokenAdmitsOnlyTheKeyItWasIssuedTo() async throws {
        let server = try CurveKeyPair.generate()
        let customerKey = try CurveKeyPair.generate()
        let agentKey = try CurveKeyPair.generate()
        let supervisorKey = try CurveKeyPair.generate()
        let keys = KeysFile(server: server, clients: [
            .init(publicKey: customerKey.publicKey, role: .customer, userId: "C1"),
            .init(publicKey: agentKey.publicKey, role: .agent, userId: "A1"),
            .init(publicKey: supervisorKey.publicKey, role: .supervisor, userId: "S1"),
        ])
        let harness = try HubHarness(keys: keys)
        func curve(_ pair: CurveKeyPair) -> CurveClientKeys {
            CurveClientKeys(serverPublicKey: server.publicKey, publicKey: pair.publicKey, secretKey: pair.secretKey)
        }
        let agent = harness.client(.agent, "A1", curve: curve(agentKey), engagesMedia: false)
        try await agent.connect()
        let customer = harness.client(.customer, "C1", curve: curve(customerKey), engagesMedia: false)
        try await customer.connect()
        let (_, agentRoom) = try await room(harness, customer: customer, agent: agent)
        let endpoint = agentRoom.mediaEndpoint!
        // The agent's token, presented with the customer's key and with the supervisor's: refused.
        for (name, pair) in [("customer", customerKey), ("supervisor", supervisorKey)] {
            let thief = try MediaSocket(endpoint, curve: (pair, server.publicKey))
            try thief.send(hello(agentRoom.mediaToken!, id: 7))
            let refused = try thief.next("error")
            XCTAssertEqual(refused["code"] as? String, "forbidden", name)
        }
        // With the agent's own key: admitted.
        let owner = try MediaSocket(endpoint, curve: (agentKey, server.publicKey))
        try owner.send(hello(agentRoom.mediaToken!, id: 8))
        XCTAssertEqual(try owner.next("mediaWelcome")["re"] as? Int, 8)
    }
}
