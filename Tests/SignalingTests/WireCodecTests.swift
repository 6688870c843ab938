import Foundation
import Signaling
import XCTest

final class WireCodecTests: XCTestCase {
    private func decode(_ json: String) throws(ProtocolError) -> Envelope {
        try WireCodec.clientToHub.decode(Data(json.utf8))
    }

    private func expectError(_ json: String, _ code: ErrorCode, file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try decode(json)
            XCTFail("decoded \(json)", file: file, line: line)
        } catch {
            XCTAssertEqual(error.code, code, error.message, file: file, line: line)
        }
    }

    func testEncodingPutsEnvelopeAndFieldsInOneObject() throws {
        let data = WireCodec.encode(RequestVideoUpgrade(contactID: "c1", divID: "panel", useAudio: true, useVideo: false), id: 7)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(object["v"] as? Int, 1)
        XCTAssertEqual(object["type"] as? String, "requestVideoUpgrade")
        XCTAssertEqual(object["id"] as? Int, 7)
        XCTAssertEqual(object["contactID"] as? String, "c1")
        XCTAssertEqual(object["useAudio"] as? Bool, true)
    }

    func testRoundTripAndUnknownFieldsIgnored() throws {
        let envelope = try decode(#"{"v":1,"type":"hello","id":3,"role":"agent","userId":"A1","queues":["sales"],"future":{"x":1}}"#)
        XCTAssertEqual(envelope.id, 3)
        let hello = try XCTUnwrap(envelope.message as? Hello)
        XCTAssertEqual(hello.role, .agent)
        XCTAssertEqual(hello.userId, "A1")
        XCTAssertEqual(hello.queues, ["sales"])
    }

    func testRefusals() {
        expectError("not json", .badJSON)
        expectError("[1,2]", .badJSON)
        expectError(#"{"v":"1","type":"ping","id":4}"#, .invalidField)
        expectError(#"{"v":1,"type":5}"#, .invalidField)
        expectError(#"{"type":"ping"}"#, .invalidField)
        expectError(#"{"v":2,"type":"ping"}"#, .unsupportedVersion)
        expectError(#"{"v":1,"type":"selfDestruct"}"#, .unknownType)
        expectError(#"{"v":1,"type":"hello","role":"admin","userId":"x"}"#, .invalidField)
        expectError(#"{"v":1,"type":"hello","role":"customer","userId":"bad id!"}"#, .invalidField)
        expectError(#"{"v":1,"type":"hello","role":"customer","userId":"C1","queues":["q"]}"#, .invalidField)
        expectError(#"{"v":1,"type":"openContact","agent":"A1","queue":"q"}"#, .invalidField)
        expectError(#"{"v":1,"type":"requestVideoUpgrade","contactID":"c","divID":"d","useAudio":false,"useVideo":false}"#, .invalidField)
        expectError(#"{"v":1,"type":"requestVideoUpgrade","contactID":"c","divID":"d","useAudio":"yes","useVideo":false}"#, .invalidField)
        let huge = String(repeating: "x", count: SignalingProtocol.maxMessageBytes)
        expectError(#"{"v":1,"type":"chat","contactID":"c","text":"\#(huge)"}"#, .tooLarge)
        expectError(#"{"v":1,"type":"chat","contactID":"c","text":""}"#, .invalidField)
    }

    func testPeekIDSurvivesBadBody() {
        XCTAssertEqual(WireCodec.peekID(Data(#"{"v":9,"type":"x","id":42}"#.utf8)), 42)
        XCTAssertEqual(WireCodec.peekID(Data(#"{"v":"one","type":7,"id":43}"#.utf8)), 43)
    }
}
