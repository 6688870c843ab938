import Foundation
import XCTest
import ZeroMQ

final class ZeroMQTests: XCTestCase {
    func testMultipartRoundTripOverInproc() throws {
        let context = try Context()
        let server = try Socket(context, .router)
        try server.bind("inproc://round-trip")
        let client = try Socket(context, .dealer)
        try client.setRoutingID(Array("peer-1".utf8))
        try client.connect("inproc://round-trip")
        try client.send([Data("head".utf8), Data(), Data([0, 1, 2, 255])])
        let (message, truncated) = try XCTUnwrap(try server.receive())
        XCTAssertFalse(truncated)
        XCTAssertEqual(message.frames, [Data("peer-1".utf8), Data("head".utf8), Data(), Data([0, 1, 2, 255])])
        XCTAssertNil(message.userID, "no ZAP handler, no User-Id")
    }

    func testFramesPastTheLimitAreReadAndDiscarded() throws {
        let context = try Context()
        let a = try Socket(context, .pair), b = try Socket(context, .pair)
        try a.bind("inproc://limit")
        try b.connect("inproc://limit")
        try b.send((0..<10).map { Data([UInt8($0)]) })
        try b.send([Data("next".utf8)])
        let (first, truncated) = try XCTUnwrap(try a.receive(maxFrames: 3))
        XCTAssertTrue(truncated)
        XCTAssertEqual(first.frames.count, 3)
        XCTAssertEqual(try XCTUnwrap(try a.receive()).message.frames, [Data("next".utf8)], "the rest of the long message is gone, the next one intact")
    }

    func testNonBlockingReceiveAndErrorsCarryErrnoAndText() throws {
        let socket = try Socket(try Context(), .dealer)
        XCTAssertNil(try socket.receive(wait: false))
        XCTAssertThrowsError(try socket.bind("tcp://not-an-address:x")) { error in
            let zmq = error as! ZMQError
            XCTAssertTrue(zmq.operation.contains("zmq_bind"))
            XCTAssertNotEqual(zmq.errno, 0)
            XCTAssertFalse(zmq.message.isEmpty)
        }
    }

    func testCloseIsIdempotentAndLaterCallsFail() throws {
        let socket = try Socket(try Context(), .dealer)
        socket.close()
        socket.close()
        XCTAssertTrue(socket.isClosed)
        XCTAssertThrowsError(try socket.send([Data()])) { XCTAssertEqual(($0 as! ZMQError).errno, ENOTSOCK) }
    }

    func testPollerWakesOnAWakeupSignalFromAnotherThread() throws {
        let socket = try Socket(try Context(), .dealer)
        let wakeup = try WakeupSignal()
        var poller = Poller()
        try poller.add(.socket(socket))
        let wakeIndex = try poller.add(.fileDescriptor(wakeup.fileDescriptor))
        XCTAssertEqual(try poller.poll(timeoutMilliseconds: 0), [])
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.05) { wakeup.raise() }
        let started = Date()
        XCTAssertEqual(try poller.poll(timeoutMilliseconds: 5000), [wakeIndex])
        XCTAssertLessThan(Date().timeIntervalSince(started), 4)
        wakeup.clear()
        XCTAssertEqual(try poller.poll(timeoutMilliseconds: 0), [], "cleared")
    }

    func testCurveKeys() throws {
        let pair = try CurveKeyPair.generate()
        XCTAssertTrue(CurveKeyPair.isValidKey(pair.publicKey))
        XCTAssertTrue(CurveKeyPair.isValidKey(pair.secretKey))
        XCTAssertEqual(try CurveKeyPair.publicKey(forSecret: pair.secretKey), pair.publicKey)
        XCTAssertFalse(CurveKeyPair.isValidKey("too short"))
        XCTAssertNotEqual(try CurveKeyPair.generate(), pair)
    }
}
