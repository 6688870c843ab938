import Foundation
import Logging
import XCTest

/// A logger for components under test: errors only.
public func quietLogger(_ label: String) -> Logger {
    var logger = Logger(label: "test.\(label)")
    logger.logLevel = .error
    return logger
}

/// Waits until `condition` holds, polling; fails after `timeout`.
public func eventually(_ what: String, timeout: Duration = .seconds(15), file: StaticString = #filePath, line: UInt = #line,
                       _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        if ContinuousClock.now > deadline {
            XCTFail("timed out waiting for \(what)", file: file, line: line)
            throw CancellationError()
        }
        try await Task.sleep(for: .milliseconds(50))
    }
}
