import Foundation
import Logging
import MediaFuzz
import Recorder
import TestKit
import XCTest

/// A short seeded run of the media fuzzer in process: a trap would end the test run, and no input may
/// stretch the recording past its session. `ctlive bench fuzz-media` runs the long version.
final class MediaFuzzTests: XCTestCase {
    func testASeededRunNeitherCrashesNorStretchesTheTimeline() throws {
        let root = try temporaryDirectory(self)
        var logger = Logger(label: "test.fuzz")
        logger.logLevel = .critical
        let fuzzer = MediaFuzzer(seed: 20261201, corpus: try .make(), root: root, logger: logger)
        var dropped = 0
        for index in 0..<6 {
            let report = try fuzzer.runSession(index, inputs: 600)
            XCTAssertFalse(report.overran, "session \(index): \(report.recordedSeconds) s recorded of \(report.sessionSeconds) s")
            XCTAssertGreaterThan(report.recordedSeconds, report.sessionSeconds - 0.6, "session \(index) recorded up to its end")
            dropped += report.errors.total
        }
        XCTAssertGreaterThan(dropped, 0, "the fuzzer's bad inputs were seen, dropped and counted")
    }

    func testTheSameSeedTriesTheSameInputs() throws {
        let root = try temporaryDirectory(self)
        var logger = Logger(label: "test.fuzz")
        logger.logLevel = .critical
        let corpus = try MediaFuzzer.Corpus.make()
        let a = try MediaFuzzer(seed: 7, corpus: corpus, root: root, logger: logger).runSession(3, inputs: 300)
        let b = try MediaFuzzer(seed: 7, corpus: corpus, root: root, logger: logger).runSession(3, inputs: 300)
        XCTAssertEqual(a.errors.malformedPackets, b.errors.malformedPackets)
        XCTAssertEqual(a.errors.unknownTrack, b.errors.unknownTrack)
        XCTAssertEqual(a.errors.undecodableTracks, b.errors.undecodableTracks)
    }
}
