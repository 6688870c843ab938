import Foundation
@testable import PolicyHost
import PolicyKit
import XCTest

/// The worker protocol's messages: what one side writes the other reads, and a malformed reply is refused.
final class WorkerMessageTests: XCTestCase {
    private func decode<T>(_ text: String, _ decoder: (UnsafeBufferPointer<UInt8>) throws -> T) throws -> T {
        var text = text
        return try text.withUTF8 { try decoder($0) }
    }

    func testAChainAndItsRepliesRoundTrip() throws {
        let chain = WorkerMessage.Chain(seq: 7, steps: [0, 2], continueOnFailure: true, failClosed: [2], request: #"{"contactID":"c \"q\""}"#)
        XCTAssertEqual(try decode(String(decoding: chain.encoded(), as: UTF8.self), WorkerMessage.Chain.decode), chain)
        let accepted = WorkerMessage.StepReply(seq: 7, step: 0, verdict: Verdict(.accept, "ok ✓"), error: nil, micros: 12.5, done: false)
        let failed = WorkerMessage.StepReply(seq: 7, step: 2, verdict: nil, error: "boom", micros: 3, done: true)
        for reply in [accepted, failed] {
            XCTAssertEqual(try decode(String(decoding: reply.encoded(), as: UTF8.self), WorkerMessage.StepReply.decode), reply)
        }
    }

    func testMalformedRepliesAreRefused() {
        for bad in [#"{"step":0,"ok":true,"verdict":"accept"}"#,            // no seq
                    #"{"seq":1,"step":0,"ok":true,"verdict":"maybe"}"#,      // no such verdict
                    #"{"seq":1,"step":0,"ok":true}"#,                         // a success with no verdict
                    #"{"seq":01,"step":0,"ok":false}"#,                       // not JSON
                    #"{"seq":1,"step":0,"ok":false} trailing"#] {
            XCTAssertThrowsError(try decode(bad, WorkerMessage.StepReply.decode), bad)
        }
        XCTAssertThrowsError(try decode(#"{"op":"setup","seq":1}"#, WorkerMessage.Chain.decode), "a setup is not a chain")
    }
}
