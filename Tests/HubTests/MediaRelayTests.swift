import CTLive
import CTLiveMedia
import Foundation
import Hub
import Signaling
import XCTest
import ZeroMQ

/// The media relay with raw sockets: admission by token, forwarding to room members, keyframe requests.
final class MediaRelayTests: XCTestCase {
    /// A media connection of a room member, with the token its `roomStarted` carried.
    private final class MediaPeer {
        let socket: Socket
        init(_ started: RoomStarted) throws {
            socket = try Socket(try Context(), .dealer)
            try socket.setLinger(milliseconds: 0)
            try socket.connect(try XCTUnwrap(started.mediaEndpoint))
            try socket.send([WireCodec.encode(MediaHello(token: try XCTUnwrap(started.mediaToken)))])
        }

        /// The next message whose JSON frame has `type`, as its frames (waits up to `within` seconds).
        func next(_ type: String, within: Double = 3) throws -> [Data] {
            var poller = Poller()
            try poller.add(.socket(socket))
            let deadline = Date().addingTimeInterval(within)
            while Date() < deadline {
                _ = try poller.poll(timeoutMilliseconds: 100)
                while let (message, _) = try socket.receive(wait: false) {
                    if message.frames.contains(where: { $0.range(of: Data("\"type\":\"\(type)\"".utf8)) != nil }) { return message.frames }
                }
            }
            throw ZMQError(operation: "no \(type)", errno: EAGAIN)
        }
    }

    func testMembersGetEachOthersMediaAndCanAskForKeyframes() async throws {
        let clock = ManualClock()
        let harness = try HubHarness(clock: clock)
        let agent = harness.client(.agent, "A1", engagesMedia: false)
        try await agent.connect()
        let agentEvents = EventReader(agent)
        let customer = harness.client(.customer, "C1", engagesMedia: false)
        try await customer.connect()
        let customerEvents = EventReader(customer)
        let contact = try await customer.openContact(agent: "A1")
        try await contact.requestVideoUpgrade(divID: "p", useAudio: true, useVideo: true)
        try await agentEvents.next("request") { $0.name == "requestVideoUpgrade" }
        try await agent.contacts[contact.id]!.responseVideoUpgrade(true, divID: "p")
        guard case .roomStarted(let customerRoom) = try await customerEvents.next("room", where: { $0.name == "roomStarted" }),
              case .roomStarted(let agentRoom) = try await agentEvents.next("room", where: { $0.name == "roomStarted" }) else { return XCTFail() }

        let publisher = try MediaPeer(customerRoom)
        _ = try publisher.next("mediaWelcome")
        try publisher.socket.send([WireCodec.encode(TrackAnnouncement(track: "video", kind: "video", codec: "h264", timeBaseNum: 1, timeBaseDen: 90000,
                                                                       width: 320, height: 180, sampleRate: 0, channels: 0, extradata: ""))])
        // The hub has the track before the other member arrives (two connections are not ordered; one is).
        try publisher.socket.send([WireCodec.encode(Ping(), id: 1)])
        _ = try publisher.next("pong")
        let subscriber = try MediaPeer(agentRoom)
        _ = try subscriber.next("mediaWelcome")
        // The late member first learns the track, and the publisher is asked for a keyframe for it.
        let announced = try subscriber.next("track")
        XCTAssertEqual(String(decoding: announced[0], as: UTF8.self), "customer:C1")
        _ = try publisher.next("keyframeRequest")

        try publisher.socket.send([WireCodec.encode(PacketHeader(track: "video", pts: 0, dts: 0, duration: 3000, key: true, capturedUs: 0)), Data([0, 0, 0, 1, 0x65])])
        let packet = try subscriber.next("packet")
        XCTAssertEqual(packet.count, 3)
        XCTAssertEqual(String(decoding: packet[0], as: UTF8.self), "customer:C1")
        XCTAssertEqual(packet[2], Data([0, 0, 0, 1, 0x65]))

        // A subscriber that cannot decode asks for a keyframe; the hub passes it on, but not within a second of the last.
        try subscriber.socket.send([WireCodec.encode(KeyframeRequest(track: "video", participant: "customer:C1"))])
        XCTAssertThrowsError(try publisher.next("keyframeRequest", within: 0.3), "rate-limited: the admission's request was just sent")
        clock.advance(.milliseconds(1001))
        try subscriber.socket.send([WireCodec.encode(KeyframeRequest(track: "video", participant: "customer:C1"))])
        let request = try publisher.next("keyframeRequest")
        XCTAssertTrue(String(decoding: request[0], as: UTF8.self).contains("\"track\":\"video\""))
        try subscriber.socket.send([WireCodec.encode(KeyframeRequest(track: "video", participant: "customer:C9"))])
        XCTAssertTrue(String(decoding: try subscriber.next("error")[0], as: UTF8.self).contains("not_in_room"))

        // A member whose link is narrower asks the publisher to send less: passed on without the participant,
        // at most twice a second; for an audio track or a stranger, refused; out of range, refused.
        try subscriber.socket.send([WireCodec.encode(BitrateRequest(track: "video", participant: "customer:C1", maxKbps: 400))])
        let capped = String(decoding: try publisher.next("bitrateRequest")[0], as: UTF8.self)
        XCTAssertTrue(capped.contains("\"maxKbps\":400") && !capped.contains("participant"), capped)
        try subscriber.socket.send([WireCodec.encode(BitrateRequest(track: "video", participant: "customer:C1", maxKbps: 300))])
        XCTAssertThrowsError(try publisher.next("bitrateRequest", within: 0.3), "within 500 ms of the last: dropped")
        clock.advance(.milliseconds(501))
        try subscriber.socket.send([WireCodec.encode(BitrateRequest(track: "video", participant: "customer:C1", maxKbps: 300))])
        XCTAssertTrue(String(decoding: try publisher.next("bitrateRequest")[0], as: UTF8.self).contains("\"maxKbps\":300"))
        try subscriber.socket.send([WireCodec.encode(BitrateRequest(track: "audio", participant: "customer:C1", maxKbps: 300))])
        XCTAssertTrue(String(decoding: try subscriber.next("error")[0], as: UTF8.self).contains("not_in_room"))
        try subscriber.socket.send([Data(#"{"v":1,"type":"bitrateRequest","track":"video","participant":"customer:C1","maxKbps":5}"#.utf8)])
        XCTAssertTrue(String(decoding: try subscriber.next("error")[0], as: UTF8.self).contains("invalid_field"))

        // A forged token is refused.
        let stranger = try MediaPeer(RoomStarted(contactID: contact.id, roomID: customerRoom.roomID, useAudio: true, useVideo: true,
                                                 mediaEndpoint: customerRoom.mediaEndpoint, mediaToken: "forged-token"))
        XCTAssertTrue(String(decoding: try stranger.next("error")[0], as: UTF8.self).contains("forbidden"))
    }
}
