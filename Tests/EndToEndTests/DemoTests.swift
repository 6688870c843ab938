import Foundation
import Recorder
import TestKit
import XCTest

/// The main job, as a new user runs it: `ctlive demo`, then the recordings commands on what it made.
final class DemoTests: XCTestCase {
    func testDemoMakesAVerifiableRecordingWithAReviewPage() throws {
        let root = try temporaryDirectory(self) + "/Recordings"
        let demo = try runCommand(ctliveExecutable, ["demo", "--seconds", "6", "--recordings", root])
        XCTAssertEqual(demo.status, 0, demo.stdout + demo.stderr)
        XCTAssertTrue(demo.stdout.contains("policy accepted"), demo.stdout)
        XCTAssertTrue(demo.stdout.contains("supervisor joined"), demo.stdout)
        func path(after label: String) throws -> String {
            let line = try XCTUnwrap(demo.stdout.split(separator: "\n").first { $0.hasPrefix(label) }, "no '\(label)' line")
            return String(line.dropFirst(label.count)).trimmingCharacters(in: .whitespaces)
        }
        let recording = try path(after: "recording")
        let review = try path(after: "review page")
        XCTAssertTrue(FileManager.default.fileExists(atPath: review))
        let info = try probe(recording)
        XCTAssertEqual(info.videoCodec, "h264")
        XCTAssertEqual(info.audioCodec, "aac")
        XCTAssertEqual(info.duration, 6, accuracy: 0.8)

        let manifest = try JSONDecoder().decode(RecordingManifest.self,
                                                from: Data(contentsOf: URL(fileURLWithPath: try path(after: "manifest"))))
        XCTAssertEqual(Set(manifest.participants.map(\.role)), ["customer", "agent", "supervisor"])
        XCTAssertTrue(manifest.events.contains { $0.kind == "decision" }, "the policy decision is on the recording's timeline")

        let list = try runCommand(ctliveExecutable, ["recordings", "list", "--recordings", root])
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertTrue(list.stdout.contains(manifest.session), list.stdout)
        let verify = try runCommand(ctliveExecutable, ["recordings", "verify", "--all", "--recordings", root])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        XCTAssertTrue(verify.stdout.contains("\(manifest.session) ok"), verify.stdout)

        // A second run keeps the first one's files.
        let again = try runCommand(ctliveExecutable, ["demo", "--seconds", "4", "--recordings", root])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: recording))
        let both = try runCommand(ctliveExecutable, ["recordings", "list", "--recordings", root, "--json"])
        let listed = try JSONSerialization.jsonObject(with: Data(both.stdout.utf8))
        let recordings = (listed as? [Any]) ?? ((listed as? [String: Any])?["recordings"] as? [Any]) ?? []
        XCTAssertEqual(recordings.count, 2, both.stdout)
    }

    func testDemoWithAMissingSourceFailsAtOnce() throws {
        let run = try runCommand(ctliveExecutable, ["demo", "--source", "/nonexistent/clip.mp4"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("/nonexistent/clip.mp4"), run.stderr)
    }
}
