import Foundation
import Recorder
import XCTest

@testable import Catalog

/// `verify`: hashes and a full decode catch altered, truncated and missing files.
final class VerifyTests: XCTestCase {
    func catalog(_ root: String) throws -> RecordingsCatalog { try RecordingsCatalog(root: root, logger: Fixtures.logger) }

    func testIntactRecordingsVerify() throws {
        let catalog = try catalog(try Fixtures.recordingsRoot(self))
        for id in ["rec-a", "rec-b"] {
            let report = try catalog.verify(id: id)
            XCTAssertTrue(report.isOK, report.line)
            XCTAssertEqual(report.line, "\(id) ok")
            XCTAssertGreaterThan(report.videoFrames, 20)
            XCTAssertGreaterThan(report.audioFrames, 20)
        }
    }

    func testASingleChangedByteFails() throws {
        let root = try Fixtures.recordingsRoot(self)
        let catalog = try catalog(root)
        try Fixtures.flipByte(try Fixtures.directory("rec-a", in: root) + "/originals.ctlo")
        let report = try catalog.verify(id: "rec-a")
        XCTAssertFalse(report.isOK)
        XCTAssertTrue(report.line.hasPrefix("rec-a FAILED: hash mismatch: "), report.line)
        XCTAssertTrue(try catalog.verify(id: "rec-b").isOK)
    }

    func testATruncatedFileFails() throws {
        let root = try Fixtures.recordingsRoot(self)
        let catalog = try catalog(root)
        try Fixtures.truncate(try Fixtures.directory("rec-a", in: root) + "/originals.ctlo", to: 0.5)
        let report = try catalog.verify(id: "rec-a")
        XCTAssertTrue(report.problems.contains { $0.hasPrefix("hash mismatch") }, report.line)
        XCTAssertTrue(report.problems.contains { $0.contains("truncated") || $0.contains("decode failure") }, report.line)
    }

    func testAnOriginalsFileCutAtARecordBoundaryFails() throws {
        let root = try Fixtures.recordingsRoot(self)
        let catalog = try catalog(root)
        let file = try Fixtures.directory("rec-a", in: root) + "/originals.ctlo"
        // Whole records only, up to half of the file: a reader sees a shorter file, nothing damaged.
        let reader = try OriginalsReader(path: file)
        let size = try FileManager.default.attributesOfItem(atPath: file)[.size] as! Int
        while reader.offset < size / 2, try reader.next() != nil {}
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        try data.prefix(Int(reader.offset)).write(to: URL(fileURLWithPath: file))
        let report = try catalog.verify(id: "rec-a")
        XCTAssertTrue(report.problems.contains { $0.hasPrefix("hash mismatch") }, report.line)
        XCTAssertTrue(report.problems.contains { $0.contains("truncated: media ends at t=") }, report.line)
    }

    func testACompositeAlteredOrSwappedFails() throws {
        let root = try Fixtures.recordingsRoot(self)
        let catalog = try catalog(root)
        let a = try Fixtures.directory("rec-a", in: root), b = try Fixtures.directory("rec-b", in: root)
        try Fixtures.flipByte(b + "/recording.mp4", at: 0.6)
        let altered = try catalog.verify(id: "rec-b")
        XCTAssertTrue(altered.problems.contains { $0.hasPrefix("hash mismatch: \(b)/recording.mp4") }, altered.line)
        // Another session's composite, with its derivation: it derives from other originals.
        try FileManager.default.removeItem(atPath: b + "/recording.mp4")
        try FileManager.default.copyItem(atPath: a + "/recording.mp4", toPath: b + "/recording.mp4")
        let swapped = try catalog.verify(id: "rec-b")
        XCTAssertFalse(swapped.isOK)
        XCTAssertTrue(swapped.problems.contains { $0.hasPrefix("hash mismatch: \(b)/recording.mp4") }, swapped.line)
        try FileManager.default.removeItem(atPath: b + "/composite.json")
        try FileManager.default.copyItem(atPath: a + "/composite.json", toPath: b + "/composite.json")
        let withItsDerivation = try catalog.verify(id: "rec-b")
        XCTAssertTrue(withItsDerivation.problems.contains { $0.contains("composite.json is the derivation of rec-a, not of rec-b") }, withItsDerivation.line)
        XCTAssertTrue(withItsDerivation.problems.contains { $0.contains("derives from other originals") }, withItsDerivation.line)
        XCTAssertTrue(try catalog.verify(id: "rec-a").isOK)
    }

    func testAMissingFileFails() throws {
        let root = try Fixtures.recordingsRoot(self)
        let catalog = try catalog(root)
        let file = try Fixtures.directory("rec-a", in: root) + "/originals.ctlo"
        try FileManager.default.removeItem(atPath: file)
        let report = try catalog.verify(id: "rec-a")
        XCTAssertEqual(report.problems, ["missing file \(file)"])
    }

    func testAManifestMissingOrAlteredFails() throws {
        let root = try Fixtures.recordingsRoot(self)
        let catalog = try catalog(root)
        let directory = try Fixtures.directory("rec-a", in: root)
        try Fixtures.setManifestField(directory + "/manifest.json", "sha256", String(repeating: "0", count: 64))
        let altered = try catalog.verify(id: "rec-a")
        XCTAssertTrue(altered.problems.contains { $0.contains("differs from the catalog's") }, altered.line)
        XCTAssertTrue(altered.problems.contains { $0.hasPrefix("hash mismatch") }, altered.line)

        try FileManager.default.removeItem(atPath: directory + "/manifest.json")
        let missing = try catalog.verify(id: "rec-a")
        XCTAssertEqual(missing.problems, ["\(directory)/manifest.json: manifest missing"], missing.line)
    }

    func testARecordingStillBeingWrittenFails() throws {
        let root = try Fixtures.recordingsRoot(self)
        let catalog = try catalog(root)
        let directory = try Fixtures.directory("rec-b", in: root)
        try Fixtures.setManifestField(directory + "/manifest.json", "status", "recording")
        let writer = try WriterLock(directory: directory)  // as a live bot holds it
        let report = try catalog.verify(id: "rec-b")
        XCTAssertEqual(report.problems, ["still being recorded (its writer is alive)"])
        withExtendedLifetime(writer) {}
    }

    func testARecordingItsWriterLeftUnfinishedIsCompletedAsInterrupted() throws {
        let root = try Fixtures.recordingsRoot(self)
        let catalog = try catalog(root)
        let directory = try Fixtures.directory("rec-b", in: root)
        // What a killed writer leaves: status recording, no hash, no end; nobody holds the writer lock.
        try Fixtures.setManifestField(directory + "/manifest.json", "status", "recording")
        try Fixtures.setManifestField(directory + "/manifest.json", "sha256", NSNull())
        let report = try catalog.verify(id: "rec-b")
        XCTAssertTrue(report.isOK, report.line)
        XCTAssertNotNil(report.interruptedAt)
        XCTAssertTrue(report.line.hasPrefix("rec-b ok (interrupted at "), report.line)
        let manifest = try JSONDecoder().decode(RecordingManifest.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/manifest.json")))
        XCTAssertEqual(manifest.status, "interrupted")
        XCTAssertNotNil(manifest.sha256, "the hash of the file as it is")
        XCTAssertEqual(try catalog.recording(id: "rec-b")?.status, "interrupted", "the catalog learns it too")
    }

    func testAnUnknownIdFails() throws {
        let report = try catalog(try Fixtures.recordingsRoot(self)).verify(id: "rec-zzz")
        XCTAssertFalse(report.isOK)
        XCTAssertTrue(report.line.hasPrefix("rec-zzz FAILED: no recording rec-zzz"), report.line)
    }
}
