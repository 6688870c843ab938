import Foundation
import Glibc
import XCTest

/// A server process of its own for one test: started with its configuration in the test's folder, on free
/// ports, and stopped (SIGTERM, then SIGKILL) when the test ends.
public final class ServerProcess {
    public let process = Process()
    public let logPath: String

    public init(_ test: XCTestCase, executable: String, arguments: [String], log: String) throws {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw NSError(domain: "\(executable) is not installed (.ci/install installs it)", code: 1)
        }
        logPath = log
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        test.addTeardownBlock { [process] in
            guard process.isRunning else { return }
            process.terminate()
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}

/// A port nobody listens on now (the system's choice), TCP or UDP.
public func freePort(udp: Bool = false) throws -> Int {
    let descriptor = socket(AF_INET, Int32(udp ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
    }
    guard bound else { throw XCTSkip("cannot find a free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A `ctlive` process (a bot, a worker) that a test kills with SIGKILL and starts again with the same arguments.
/// Its output is appended to `log` (or dropped); it is killed when released.
public final class KillableProcess {
    public let arguments: [String]
    public let logPath: String?
    public private(set) var process: Process?

    public init(arguments: [String], log: String? = nil) throws {
        (self.arguments, logPath) = (arguments, log)
        if let log { _ = FileManager.default.createFile(atPath: log, contents: nil) }
        try start()
    }

    public func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ctliveExecutable)
        process.arguments = arguments
        if let logPath {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            handle.seekToEndOfFile()
            (process.standardOutput, process.standardError) = (handle, handle)
        } else {
            (process.standardOutput, process.standardError) = (FileHandle.nullDevice, FileHandle.nullDevice)
        }
        try process.run()
        self.process = process
    }

    public func kill() {
        guard let process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    public var log: String { logPath.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? "" }

    deinit { kill() }
}
