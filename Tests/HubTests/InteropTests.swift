import Foundation
import XCTest

/// A Python client written from docs/PROTOCOL.md alone runs whole escalations against the real hub.
final class InteropTests: XCTestCase {
    func testPythonClientFromTheProtocolDocument() throws {
        let harness = try HubHarness()
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("interop/escalation.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, "--hub", harness.endpoint]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, text)
        XCTAssertTrue(text.contains(" passed, 0 failed"), text)
        XCTAssertFalse(text.contains("FAIL"), text)
    }
}
