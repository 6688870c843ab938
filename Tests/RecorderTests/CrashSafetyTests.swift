import Foundation
import TestKit
import XCTest

/// A recording whose writer is killed with SIGKILL mid-way still probes and decodes.
final class CrashSafetyTests: XCTestCase {
    func testRecordingKilledMidwayProbesAndDecodes() throws {
        // The writer runs in its own process: `ctlive compose --realtime`, built next to this test bundle.
        let ctlive = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("ctlive").path
        guard FileManager.default.isExecutableFile(atPath: ctlive) else {
            throw XCTSkip("ctlive is not built next to the tests (\(ctlive)); run `swift build` first")
        }
        let directory = try temporaryDirectory(self)
        let inputs = ["\(directory)/a.mp4", "\(directory)/b.mp4"]
        try generateInput(inputs[0], color: "red", tone: 500, seconds: 30)
        try generateInput(inputs[1], color: "blue", tone: 700, seconds: 30)
        let output = directory + "/killed.mp4"

        let process = Process()
        process.executableURL = URL(fileURLWithPath: ctlive)
        process.arguments = ["compose", "--realtime", "--size", "640x360", "--preset", "ultrafast", "-o", output] + inputs
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        let started = Date()
        try process.run()
        Thread.sleep(forTimeInterval: 6)
        let elapsed = Date().timeIntervalSince(started)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .uncaughtSignal)
        XCTAssertEqual(process.terminationStatus, SIGKILL)

        let info = try probe(output)
        XCTAssertEqual([info.videoCodec, info.audioCodec], ["h264", "aac"])
        XCTAssertEqual([info.width, info.height], [640, 360])
        let decoded = try decode(output, picturesAt: [1])
        XCTAssertLessThanOrEqual(decoded.decodeErrors, 1, "at most the cut fragment's last packet")
        // Everything up to about two seconds before the kill is there (less a little for the child's start-up).
        XCTAssertGreaterThan(decoded.lastPictureTime, elapsed - 2.5, "decoded up to \(decoded.lastPictureTime) s of \(elapsed) s")
        XCTAssertLessThan(decoded.lastPictureTime, elapsed + 0.5, "paced at real time")
        assertColor(decoded.pictures[1], 160, 180, red, "left tile")
        assertColor(decoded.pictures[1], 480, 180, blue, "right tile")
        XCTAssertTrue(decoded.hasTone(500, 0.5, decoded.lastPictureTime - 0.5))
    }
}
