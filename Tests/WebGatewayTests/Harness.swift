import Foundation
import Glibc
import Media
import TestKit
import XCTest

/// The repository's root (for Tests/Browser/browse.py).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A `ctlive web` process on a port the system picks, stopped with SIGTERM at the end of the test.
final class WebProcess {
    let process = Process()
    let port: Int
    private let errorPath: String

    init(_ test: XCTestCase, hub: String, arguments: [String] = []) throws {
        process.executableURL = URL(fileURLWithPath: ctliveExecutable)
        process.arguments = ["web", "--http", "127.0.0.1:0", "--hub", hub, "--log-level", "info"] + arguments
        let out = Pipe()
        errorPath = FileManager.default.temporaryDirectory.appendingPathComponent("web-\(UUID()).log").path
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        process.standardOutput = out
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        try process.run()
        // The first line names the URL: "ctlive web serving http://127.0.0.1:PORT/ ...".
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line += chunk
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let range = text.range(of: #"127\.0\.0\.1:(\d+)/"#, options: .regularExpression),
              let port = Int(text[range].dropFirst("127.0.0.1:".count).dropLast()) else {
            process.terminate()
            throw NSError(domain: "ctlive web did not start: \(text) \(Self.read(errorPath))", code: 1)
        }
        self.port = port
        test.addTeardownBlock { [self] in stop() }
    }

    var base: String { "http://127.0.0.1:\(port)" }

    /// SIGTERM, then what it printed on stderr (its statistics line last).
    @discardableResult
    func stop() -> String {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        defer { try? FileManager.default.removeItem(atPath: errorPath) }
        return Self.read(errorPath)
    }

    private static func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
}

/// Headless Chromium driven by Tests/Browser/browse.py: pages, conditions to wait for, results, screenshots.
struct Browser {
    struct Page {
        var name: String
        var url: String
        var until: String?
        var results: [String] = []
        var screenshot: String?
    }

    struct Outcome {
        var ok: Bool
        var error: String?
        var pages: [String: [String: Any]]

        func result(_ page: String, _ expression: String) -> Any? {
            (pages[page]?["results"] as? [String: Any])?[expression] ?? nil
        }

        func console(_ page: String) -> String { ((pages[page]?["console"] as? [String]) ?? []).joined(separator: "\n") }
    }

    var timeout: Double = 60
    var hold: Double = 0
    var chromiumArguments: [String] = []

    func run(_ pages: [Page]) throws -> Outcome {
        var arguments = [repositoryRoot.appendingPathComponent("Tests/Browser/browse.py").path, "--timeout", "\(timeout)", "--hold", "\(hold)"]
        for page in pages {
            arguments += ["--page", "\(page.name)=\(page.url)"]
            if let until = page.until { arguments += ["--until", "\(page.name)=\(until)"] }
            for result in page.results { arguments += ["--result", "\(page.name)=\(result)"] }
            if let screenshot = page.screenshot { arguments += ["--screenshot", "\(page.name)=\(screenshot)"] }
        }
        for argument in chromiumArguments { arguments += ["--chromium-arg=\(argument)"] }
        let run = try runCommand("/usr/bin/python3", arguments)
        guard let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any] else {
            throw NSError(domain: "browse.py printed no JSON: \(run.stdout) \(run.stderr)", code: 1)
        }
        return Outcome(ok: object["ok"] as? Bool ?? false, error: object["error"] as? String,
                       pages: object["pages"] as? [String: [String: Any]] ?? [:])
    }
}

/// The average colour of a rectangle of a PNG (a screenshot), through the ffmpeg command line.
func averageColor(png path: String, x: Int, y: Int, width: Int, height: Int) throws -> RGB {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
    process.arguments = ["-v", "error", "-i", path, "-vf", "crop=\(width):\(height):\(x):\(y),scale=1:1:flags=area", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard data.count == 3 else { throw NSError(domain: "ffmpeg gave \(data.count) bytes for a 1x1 picture", code: 1) }
    return RGB(red: data[0], green: data[1], blue: data[2])
}

/// One HTTP request over a plain TCP socket, as written; the response's status line and body.
func rawHTTP(port: Int, _ request: String) throws -> (status: Int, text: String, bytes: Data) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw NSError(domain: "socket", code: Int(errno)) }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw NSError(domain: "connect", code: Int(errno)) }
    let bytes = Array(request.utf8)
    _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var response = Data()
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = recv(fd, &buffer, buffer.count, 0)
        if count <= 0 { break }
        response.append(contentsOf: buffer[0..<count])
        // After a 101 the socket stays open: wait a little for a close frame, no longer.
        if response.starts(with: Data("HTTP/1.1 101".utf8)) {
            var short = timeval(tv_sec: 0, tv_usec: 500_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &short, socklen_t(MemoryLayout<timeval>.size))
        }
    }
    let text = String(decoding: response, as: UTF8.self)
    let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
    return (status, text, response)
}

/// The close frame that follows a 101 (an unmasked server frame): its code and reason, if one came.
func closeFrame(after response: Data) -> (code: Int, reason: String)? {
    guard let end = response.range(of: Data("\r\n\r\n".utf8)) else { return nil }
    let frame = Array(response[end.upperBound...])
    guard frame.count >= 4, frame[0] == 0x88 else { return nil }
    let length = Int(frame[1] & 0x7f)
    guard length >= 2, frame.count >= 2 + length else { return nil }
    return (Int(frame[2]) << 8 | Int(frame[3]), String(decoding: frame[4..<(2 + length)], as: UTF8.self))
}

/// A WebSocket upgrade request for `path`.
func upgradeRequest(_ path: String, host: String, origin: String? = nil) -> String {
    "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        + "Sec-WebSocket-Version: 13\r\n" + (origin.map { "Origin: \($0)\r\n" } ?? "") + "\r\n"
}
