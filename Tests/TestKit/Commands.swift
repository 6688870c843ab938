import Foundation

/// The `ctlive` executable SwiftPM built beside the test bundle.
public var ctliveExecutable: String {
    URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).deletingLastPathComponent().appendingPathComponent("ctlive").path
}

/// What a finished command printed, and how it ended.
public struct CommandRun: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs a program to its end, collecting both outputs (stderr through a file, so neither pipe can fill up and block).
public func runCommand(_ program: String, _ arguments: [String]) throws -> CommandRun {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = arguments
    let errorPath = FileManager.default.temporaryDirectory.appendingPathComponent("stderr-\(UUID())").path
    _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: errorPath) }
    let errorFile = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
    let out = Pipe()
    process.standardOutput = out
    process.standardError = errorFile
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    try errorFile.close()
    let stderr = (try? Data(contentsOf: URL(fileURLWithPath: errorPath))) ?? Data()
    return CommandRun(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
}
