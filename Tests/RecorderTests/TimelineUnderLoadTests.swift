import Foundation
import Logging
import Media
import TestKit
import XCTest

@testable import Recorder

/// Overload never stretches a recording nor loses pictures: a live composite behind its schedule gives
/// up and is rendered from the originals after, whole; a recording ends at the session time its end
/// was learnt, however late the finish runs.
final class TimelineUnderLoadTests: XCTestCase {
    let logger = Logger(label: "test.load")

    private func configuration(_ root: String) -> RecordingConfiguration {
        var configuration = RecordingConfiguration(root: root, sessionID: "load", contactID: "contact-1", layout: .grid)
        configuration.preset = "ultrafast"
        configuration.queueCapacity = 100_000
        return configuration
    }

    func testALiveCompositeFarBehindIsDeferredAndRenderedWhole() throws {
        let root = try temporaryDirectory(self)
        let clock = ManualSessionClock()
        let recording = try LiveRecording(configuration: configuration(root), clock: clock, logger: logger)
        recording.participantJoined(id: "alice", name: "Alice", role: "customer", colorHint: red)
        clock.set(0.6)
        recording.waitForWorker()
        // The worker sees four seconds go by at once, as a starved thread would.
        clock.set(4.6)
        recording.waitForWorker()
        recording.waitForWorker()  // the first barrier may be taken by a pass that read the clock before the jump
        clock.set(5)
        let result = try recording.finish()
        XCTAssertEqual(result.composite.state, "queued", "a live composite four seconds behind gives up")
        XCTAssertFalse(FileManager.default.fileExists(atPath: result.recordingPath), "the partial composite is removed")
        XCTAssertEqual(result.duration, 5, accuracy: 0.05)
        try CompositeJob.render(directory: result.directory, key: nil, logger: logger)
        XCTAssertEqual(try probe(result.recordingPath).duration, 5, accuracy: 0.3)
        let decoded = try decode(result.recordingPath, picturesAt: [4.8])
        assertColor(decoded.pictures[4.8], 640, 360, red, "alice after the catch-up")
    }

    func testARecordingEndsWhenItsEndWasLearntNotWhenTheFinishRuns() throws {
        let root = try temporaryDirectory(self)
        let recording = try LiveRecording(configuration: configuration(root), logger: logger)
        recording.participantJoined(id: "alice", name: "Alice", role: "customer", colorHint: red)
        Thread.sleep(forTimeInterval: 2)
        recording.end()
        let end = 2.0
        Thread.sleep(forTimeInterval: 1.5)  // a busy machine gets to the finish late
        let result = try recording.finish()
        XCTAssertEqual(result.duration, end, accuracy: 0.1)
        XCTAssertEqual(try probe(result.recordingPath).duration, end, accuracy: 0.3)
    }
}
