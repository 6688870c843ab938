import Foundation
import XCTest

/// Headless Chromium (Debian package `chromium`), run on a page from the file system.
struct Browser {
    let executable: String

    /// The first Chromium found (`$CHROMIUM`, then the usual names on PATH); nil when none is installed.
    static func find() -> Browser? {
        var candidates: [String] = []
        if let configured = ProcessInfo.processInfo.environment["CHROMIUM"] { candidates.append(configured) }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for name in ["chromium", "chromium-browser", "google-chrome", "chrome"] {
            candidates += path.split(separator: ":").map { "\($0)/\(name)" }
        }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }.map(Browser.init)
    }

    /// The page's DOM after its scripts ran; `fragment` is appended to its URL (`t=3`).
    func dumpDOM(of page: String, fragment: String? = nil, profile: String) throws -> String {
        let url = URL(fileURLWithPath: page).absoluteString + (fragment.map { "#" + $0 } ?? "")
        return try run(arguments(page, profile) + ["--dump-dom", url])
    }

    /// A PNG screenshot of the page, `width`x`height`.
    func screenshot(of page: String, to output: String, width: Int, height: Int, profile: String) throws {
        try run(arguments(page, profile) + ["--hide-scrollbars", "--window-size=\(width),\(height)", "--screenshot=\(output)",
                                            URL(fileURLWithPath: page).absoluteString])
    }

    private func arguments(_ page: String, _ profile: String) -> [String] {
        ["--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files", "--no-first-run",
         "--user-data-dir=\(profile)", "--virtual-time-budget=3000"]
    }

    /// Runs Chromium, returns its standard output; fails after 90 s.
    @discardableResult
    private func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 90, execute: watchdog)
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        watchdog.cancel()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw BrowserError(message: "\(executable) \(arguments.joined(separator: " ")) ended with status \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}

struct BrowserError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
