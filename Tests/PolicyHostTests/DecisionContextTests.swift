import Foundation
import Timestamps
@testable import PolicyHost
@testable import PolicyKit
import XCTest

/// The decision-context JSON: the fast writer and reader agree with Foundation's coders.
final class DecisionContextTests: XCTestCase {
    let tricky = DecisionContext(
        contactID: "c-\"quoted\" \\ back/slash\n\t\u{01}", queue: "vip",
        customer: .init(id: "cust-é-😀", attributes: ["tier": "gold", "note": "line\nbreak", "empty": ""]),
        agent: .init(id: "A1", activeVideoSessions: 3, timeZone: "Europe/Paris"),
        request: .init(useAudio: true, useVideo: false, divID: "video"),
        time: .init(utc: "2026-11-27T10:00:00Z", agentLocal: "2026-11-27T11:00:00+01:00"),
        recorders: .init(idle: 2), chat: .init(messages: 12, durationSeconds: 240.5), agentConnected: true)

    func testFastWriterMatchesJSONDecoder() throws {
        let decoded = try JSONDecoder().decode(DecisionContext.self, from: Data(tricky.jsonText.utf8))
        XCTAssertEqual(decoded, tricky)
    }

    func testFastReaderMatchesJSONEncoder() throws {
        let encoded = try JSONEncoder().encode(tricky)
        XCTAssertEqual(try DecisionContext.decode(json: tricky.jsonText), tricky)
        // The one-pass reader itself (not its JSONDecoder fallback) reads both texts.
        for text in [tricky.jsonText, String(decoding: encoded, as: UTF8.self)] {
            var text = text
            XCTAssertEqual(try text.withUTF8 { try DecisionContext.fastDecode($0) }, tricky)
        }
    }

    func testReaderHandlesEscapesAndRejectsBadJSON() throws {
        XCTAssertEqual(try JSONReader.parse(#"{"a":"\u00e9\ud83d\ude00\/","b":[1,-2.5e2,true,null]}"#),
            .object(["a": .string("é😀/"), "b": .array([.number(1), .number(-250), .bool(true), .null])]))
        for bad in ["{", #"{"a":}"#, "[1,]", #""\ud800""#, "01x", #"{"a":1} x"#, "\"tab\there\"", "01", "-01", "1.", ".5", "+1", "1e", "1e+"] {
            XCTAssertThrowsError(try JSONReader.parse(bad), bad)
        }
        for good in ["0", "-0", "10", "1.5", "-2.5e-3", "1E9"] { XCTAssertNoThrow(try JSONReader.parse(good), good) }
        // Invalid UTF-8 (a lone continuation byte, an overlong encoding) is refused, not repaired.
        for bytes: [UInt8] in [[0x22, 0x80, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0x5C, 0x6E, 0xFF, 0x22]] {
            XCTAssertThrowsError(try bytes.withUnsafeBufferPointer { try JSONReader.parse($0) }, "\(bytes)") { error in
                XCTAssertTrue("\(error)".contains("invalid UTF-8"), "\(error)")
            }
        }
    }

    func testOneJSONValueTypeForPolicyConfigsAndTheReader() throws {
        let text = #"{"b":[1,2.5,"x/y é",null,true],"a":{"z":-3}}"#
        let config = try JSONDecoder().decode(JSON.self, from: Data(text.utf8))
        XCTAssertEqual(config.jsonText, #"{"a":{"z":-3},"b":[1,2.5,"x/y é",null,true]}"#, "compact, keys sorted, slashes kept")
        XCTAssertEqual(try JSONReader.parse(config.jsonText), config, "what the writer writes the reader reads back")
        XCTAssertEqual(try JSONDecoder().decode(JSON.self, from: JSONEncoder().encode(config)), config)
    }

    func testLenientDefaultsAndClearErrors() throws {
        let minimal = try DecisionContext.decode(
            json: #"{"contactID":"c","customer":{"id":"x"},"agent":{"id":"A"},"request":{"useAudio":true,"useVideo":false}}"#)
        XCTAssertEqual(minimal.recorders.idle, 0)
        XCTAssertEqual(minimal.customer.attributes, [:])
        XCTAssertFalse(minimal.agentConnected)
        XCTAssertNotNil(minimal.time.date)
        XCTAssertThrowsError(try DecisionContext.decode(json: #"{"contactID":"c","customer":{"id":"x"},"agent":{"id":"A"}}"#)) {
            XCTAssertEqual(describe($0), "the decision context has no request.useAudio and request.useVideo")
        }
        XCTAssertThrowsError(try DecisionContext.decode(
            json: #"{"contactID":"c","customer":{"id":"x","attributes":{"n":1}},"agent":{"id":"A"},"request":{"useAudio":true,"useVideo":false}}"#))
    }
}

final class TimestampTests: XCTestCase {
    func testTimesAreWrittenAsFoundationWritesThemAndReadBack() throws {
        for seconds in [0.0, 1_795_000_000.123, 1_795_000_000.999_9, 951_782_400.5 /* 2000-02-29 */] {
            let date = Date(timeIntervalSince1970: seconds)
            XCTAssertEqual(ISO8601.utcMilliseconds(date), Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(date))
            XCTAssertEqual(ISO8601.utcSeconds(date), Date.ISO8601FormatStyle().format(date))
            let back = try XCTUnwrap(ISO8601.parse(ISO8601.utcMilliseconds(date)))
            XCTAssertEqual(back.timeIntervalSince1970, seconds, accuracy: 0.001, "milliseconds are cut, not rounded")
        }
        let date = Date(timeIntervalSince1970: 1_795_000_000)
        XCTAssertEqual(ISO8601.utcSeconds(date), "2026-11-18T11:06:40Z")
        XCTAssertEqual(ISO8601.local(date, timeZone: "Europe/Rome"), "2026-11-18T12:06:40+01:00")
        XCTAssertEqual(ISO8601.local(date, timeZone: "Nowhere/Atlantis"), "2026-11-18T11:06:40Z", "an unknown zone is UTC")
        XCTAssertEqual(ISO8601.parse("2026-11-18T12:06:40+01:00"), date)
        XCTAssertNil(ISO8601.parse("18/11/2026"))
    }
}
