import Foundation
import Logging
import Signaling
import Synchronization
import XCTest
@testable import Hub

/// The hub's state machine alone: no sockets, no threads, no sleeps. Time moves only when a test moves
/// it, so every expiry is checked on both sides of its deadline.
final class HubStateTests: XCTestCase {
    /// A hub state with clients named by their connection, and what each was sent.
    final class Machine {
        let clock = ManualClock()
        let state: HubState
        private var received: [String: [[String: Any]]] = [:]

        init(_ configure: (inout HubPolicy) -> Void = { _ in }) {
            var policy = HubPolicy()
            // Clients here say nothing between steps: only the heartbeat test times them out.
            policy.heartbeatTimeout = .seconds(3600)
            configure(&policy)
            var logger = Logger(label: "test.hub-state")
            logger.logLevel = .critical
            state = HubState(policy: policy, hubVersion: "test", logger: logger, clock: clock)
        }

        func send(_ from: String, _ json: String) {
            guard let envelope = try? WireCodec.clientToHub.decode(Data(json.utf8)) else { return XCTFail("bad test message \(json)") }
            state.handle(envelope, from: ConnectionID(Data(from.utf8)), authenticatedUser: nil, now: clock.now)
            collect()
        }

        func hello(_ connection: String, _ role: String, _ user: String) {
            send(connection, #"{"v":1,"type":"hello","role":"\#(role)","userId":"\#(user)"}"#)
            let heard = take(connection)
            XCTAssertEqual(heard.first?["type"] as? String, "welcome")
            received[connection] = Array(heard.dropFirst())   // what the hello brought (a room waiting, say) stays to be read
        }

        /// Moves time on and runs the timers, as the hub's loop does.
        func wait(_ duration: Duration) {
            clock.advance(duration)
            state.tick(now: clock.now)
            collect()
        }

        private func collect() {
            for (connection, data) in state.takeOutbox() {
                let object = (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
                received[String(decoding: connection.routingID, as: UTF8.self), default: []].append(object)
            }
        }

        /// Everything `connection` was sent since the last take.
        func take(_ connection: String) -> [[String: Any]] {
            defer { received[connection] = [] }
            return received[connection] ?? []
        }

        func types(_ connection: String) -> [String] { take(connection).compactMap { $0["type"] as? String } }

        /// C1 opens a contact with A1 and asks for video; the contact's id.
        func requestVideo() -> String {
            hello("c1", "customer", "C1")
            hello("a1", "agent", "A1")
            send("c1", #"{"v":1,"type":"openContact","id":1,"agent":"A1"}"#)
            let contactID = take("c1").first { $0["type"] as? String == "ok" }?["contactID"] as? String ?? ""
            _ = take("a1")
            send("c1", #"{"v":1,"type":"requestVideoUpgrade","id":2,"contactID":"\#(contactID)","divID":"p","useAudio":true,"useVideo":true}"#)
            _ = take("c1")
            _ = take("a1")
            return contactID
        }

        func startRoom() -> String {
            let contactID = requestVideo()
            send("a1", #"{"v":1,"type":"responseVideoUpgrade","id":3,"contactID":"\#(contactID)","response":true,"divID":"q"}"#)
            return contactID
        }
    }

    func testAnUnansweredRequestIsRefusedAtItsTimeoutAndNotBefore() {
        let machine = Machine { $0.requestTimeout = .seconds(30) }
        _ = machine.requestVideo()
        machine.wait(.milliseconds(29_999))
        XCTAssertEqual(machine.types("c1"), [], "not yet")
        machine.wait(.milliseconds(2))
        let answer = machine.take("c1").first
        XCTAssertEqual(answer?["type"] as? String, "responseVideoUpgrade")
        XCTAssertEqual(answer?["response"] as? Bool, false)
        XCTAssertEqual(answer?["reason"] as? String, "timeout")
        XCTAssertEqual(answer?["by"] as? String, "hub")
        XCTAssertEqual(machine.types("a1"), ["responseVideoUpgrade"], "the agent is told too")
    }

    func testASilentClientIsDroppedAtTheHeartbeatTimeoutAndItsContactCloses() {
        let machine = Machine { $0.heartbeatTimeout = .seconds(3) }
        _ = machine.requestVideo()
        machine.wait(.seconds(2))
        machine.send("a1", #"{"v":1,"type":"ping","id":9}"#)
        XCTAssertEqual(machine.types("a1"), ["pong"])
        machine.wait(.milliseconds(999))
        XCTAssertEqual(machine.types("a1"), [], "the customer has 1 ms left")
        machine.wait(.milliseconds(2))
        let heard = machine.take("a1")
        XCTAssertEqual(heard.compactMap { $0["type"] as? String }, ["requestVideoUpgradeCancelled", "contactClosed"])
        XCTAssertEqual(heard.last?["reason"] as? String, "connection lost")
        XCTAssertEqual(machine.state.connectedClients, 1, "the agent, who spoke, is still there")
    }

    func testARecorderThatDoesNotJoinIsReplacedAndItsLateJoinRefused() {
        let machine = Machine { $0.recorderJoinTimeout = .seconds(10) }
        machine.hello("r1", "recorder", "R1")
        machine.hello("r2", "recorder", "R2")
        _ = machine.startRoom()
        let first = machine.take("r1").first { $0["type"] as? String == "recordRoom" }
        XCTAssertEqual(first?["part"] as? Int, 1, "the lowest id takes the room first")
        XCTAssertEqual(machine.types("r2"), [])
        machine.wait(.milliseconds(9_999))
        XCTAssertEqual(machine.types("r2"), [])
        machine.wait(.milliseconds(2))
        let second = machine.take("r2").first { $0["type"] as? String == "recordRoom" }
        XCTAssertEqual(second?["part"] as? Int, 2)
        XCTAssertEqual(second?["previousRecorder"] as? String, "recorder:R1")
        let roomID = first?["roomID"] as? String ?? ""
        machine.send("r1", #"{"v":1,"type":"joinRoom","id":4,"roomID":"\#(roomID)"}"#)
        XCTAssertEqual(machine.take("r1").first?["code"] as? String, "forbidden", "the late recorder may not join")
    }

    func testARoomThatMustBeRecordedEndsAfterTheGraceWithNoRecorder() {
        let machine = Machine { $0.recordingRequired = true; $0.recordingGrace = .seconds(10) }
        _ = machine.startRoom()
        let started = machine.take("c1")
        XCTAssertEqual(started.first { $0["type"] as? String == "recordingStatus" }?["reason"] as? String, "no recorder available")
        XCTAssertEqual(started.first { $0["type"] as? String == "roomStarted" }?["recordingRequired"] as? Bool, true)
        machine.wait(.milliseconds(9_999))
        XCTAssertEqual(machine.types("c1"), [])
        machine.wait(.milliseconds(2))
        let ended = machine.take("c1")
        XCTAssertEqual(ended.first { $0["type"] as? String == "recordingStatus" }?["status"] as? String, "interrupted")
        XCTAssertEqual(ended.first { $0["type"] as? String == "roomEnded" }?["reason"] as? String, "recording lost")
    }

    func testATakeoverWithinTheGraceLetsARoomThatMustBeRecordedGoOn() {
        let machine = Machine { $0.recordingRequired = true; $0.recordingGrace = .seconds(10) }
        machine.hello("r1", "recorder", "R1")
        let contactID = machine.startRoom()
        let roomID = machine.take("r1").first { $0["type"] as? String == "recordRoom" }?["roomID"] as? String ?? ""
        machine.send("r1", #"{"v":1,"type":"joinRoom","id":1,"roomID":"\#(roomID)"}"#)
        machine.send("r1", #"{"v":1,"type":"recordingReport","id":2,"roomID":"\#(roomID)","status":"recording"}"#)
        XCTAssertEqual(machine.take("c1").compactMap { $0["status"] as? String }.last, "recording")
        machine.wait(.seconds(5))
        machine.send("r1", #"{"v":1,"type":"bye","id":3}"#)
        XCTAssertEqual(machine.take("c1").compactMap { $0["status"] as? String }, ["interrupted"])
        machine.wait(.seconds(8))
        machine.hello("r2", "recorder", "R2")
        let takeover = machine.take("r2").first { $0["type"] as? String == "recordRoom" }
        XCTAssertEqual(takeover?["part"] as? Int, 2, "the room waited for a recorder")
        machine.send("r2", #"{"v":1,"type":"joinRoom","id":1,"roomID":"\#(roomID)"}"#)
        machine.send("r2", #"{"v":1,"type":"recordingReport","id":2,"roomID":"\#(roomID)","status":"recording"}"#)
        XCTAssertEqual(machine.take("c1").compactMap { $0["status"] as? String }.last, "recording")
        machine.wait(.seconds(30))
        XCTAssertFalse(machine.types("c1").contains("roomEnded"), "recorded again within the grace (5 s + 8 s from the loss, 2 s short)")
        XCTAssertEqual(machine.state.openContacts, 1, "contact \(contactID) is open")
    }

    func testARoomThatEndsBeforeItsRecorderWroteIsToldItWasNotRecorded() {
        let machine = Machine()
        machine.hello("r1", "recorder", "R1")
        let contactID = machine.startRoom()
        XCTAssertFalse(machine.types("c1").contains("recordingStatus"), "a recorder took it: nothing to say yet")
        machine.send("c1", #"{"v":1,"type":"videoDisconnectAndDestruct","id":9,"contactID":"\#(contactID)"}"#)
        machine.send("a1", #"{"v":1,"type":"videoDisconnectAndDestruct","id":9,"contactID":"\#(contactID)"}"#)
        let status = machine.take("c1").first { $0["type"] as? String == "recordingStatus" }
        XCTAssertEqual(status?["status"] as? String, "stopped", "the end of an unrecorded room is not silent")
        XCTAssertEqual(status?["reason"] as? String, "not recorded: the room ended (the customer left) before a recorder wrote it")
    }

    func testTheRoomEndsWhenTheCustomerOrTheAgentLeavesItNotForASupervisor() {
        for leaver in ["c1", "a1"] {
            let machine = Machine()
            machine.hello("r1", "recorder", "R1")
            let contactID = machine.startRoom()
            let roomID = machine.take("r1").first { $0["type"] as? String == "recordRoom" }?["roomID"] as? String ?? ""
            machine.hello("s1", "supervisor", "S1")
            machine.send("s1", #"{"v":1,"type":"joinRoom","id":3,"roomID":"\#(roomID)"}"#)
            _ = machine.take("c1"); _ = machine.take("a1"); _ = machine.take("s1")
            machine.send(leaver, #"{"v":1,"type":"videoDisconnectAndDestruct","id":9,"contactID":"\#(contactID)"}"#)
            let other = leaver == "c1" ? "a1" : "c1"
            let heard = machine.take(other)
            let left = heard.firstIndex { $0["type"] as? String == "participant" && $0["eventName"] as? String == "onLeft" }
            let ended = heard.firstIndex { $0["type"] as? String == "roomEnded" }
            XCTAssertNotNil(left, "\(other) hears onLeft")
            XCTAssertNotNil(ended, "\(other) hears the room end when \(leaver) leaves")
            if let left, let ended { XCTAssertLessThan(left, ended, "onLeft, then the room's end") }
            XCTAssertEqual(heard.first { $0["type"] as? String == "roomEnded" }?["reason"] as? String,
                           leaver == "c1" ? "the customer left" : "the agent left")
            XCTAssertTrue(machine.take("s1").contains { $0["type"] as? String == "roomEnded" }, "the supervisor does not keep it alive")
            XCTAssertTrue(machine.take("r1").contains { $0["type"] as? String == "roomEnded" }, "the recorder finishes")
        }
    }

    func testChatCarriesTheHubsWallClock() {
        let machine = Machine()
        let contactID = machine.requestVideo()
        machine.send("c1", #"{"v":1,"type":"chat","id":5,"contactID":"\#(contactID)","text":"hi"}"#)
        let chat = machine.take("a1").first { $0["type"] as? String == "chat" }
        XCTAssertEqual(chat?["at"] as? Int, 1_900_000_000_000, "the injected wall clock, in ms")
    }
}
