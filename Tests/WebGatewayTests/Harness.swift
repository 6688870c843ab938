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
struct Browser: Sendable {
    struct Page: Sendable {
        var name: String
        var url: String
        var until: String?
        var results: [String] = []
        var screenshot: String?
    }

    /// Values parsed from browse.py's JSON, never changed after: safe to hand between tasks.
    struct Outcome: @unchecked Sendable {
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

/// A TCP socket connected to 127.0.0.1:`port`, after `configure` set its options.
func connectLoopback(port: Int, configure: (Int32) -> Void = { _ in }) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw NSError(domain: "socket", code: Int(errno)) }
    configure(fd)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        let error = errno
        close(fd)
        throw NSError(domain: "connect", code: Int(error))
    }
    return fd
}

/// One HTTP request over a plain TCP socket, as written; the response's status line and body.
func rawHTTP(port: Int, _ request: String) throws -> (status: Int, text: String, bytes: Data) {
    let fd = try connectLoopback(port: port) { fd in
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }
    defer { close(fd) }
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

/// A bare WebSocket client over a TCP socket, for peers no browser would be: one that stops reading,
/// sends garbage, or vanishes. Blocking; one thread.
final class RawWebSocket {
    enum Frame: Equatable {
        case text(String)
        case binary([UInt8])
        case close(Int, String)
        case ping, pong
    }

    private let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int, path: String = "/ws") throws {
        fd = try connectLoopback(port: port) { fd in
            // A small receive buffer, so that not reading backs up into the gateway quickly.
            var small: Int32 = 16 * 1024
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        }
        try write(Array(upgradeRequest(path, host: "127.0.0.1:\(port)").utf8))
        while !buffer.starts(with: Array("HTTP/1.1 101".utf8)) || !containsHeadEnd() {
            guard try fill(timeout: 5) else { throw NSError(domain: "no upgrade", code: 1) }
        }
        let end = headEnd()!
        buffer.removeFirst(end)
    }

    deinit { close(fd) }

    /// Closes the TCP connection with no close frame: a browser that vanished.
    func vanish() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        shutdown(fd, Int32(SHUT_RDWR))
    }

    private func containsHeadEnd() -> Bool { headEnd() != nil }

    private func headEnd() -> Int? {
        let marker: [UInt8] = [13, 10, 13, 10]
        guard buffer.count >= 4 else { return nil }
        for index in 0...(buffer.count - 4) where Array(buffer[index..<(index + 4)]) == marker { return index + 4 }
        return nil
    }

    private func write(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw NSError(domain: "send", code: Int(errno)) }
            sent += count
        }
    }

    /// Reads what is there within `timeout` seconds; false when nothing came (or the peer closed).
    private func fill(timeout: Double) throws -> Bool {
        var poll = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard Glibc.poll(&poll, 1, Int32(timeout * 1000)) > 0 else { return false }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = recv(fd, &chunk, chunk.count, 0)
        guard count > 0 else { return false }
        buffer += chunk[0..<count]
        return true
    }

    /// Sends one masked frame, as a browser must.
    func send(opcode: UInt8, _ payload: [UInt8]) throws {
        var frame: [UInt8] = [0x80 | opcode]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else if payload.count < 65536 {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        } else {
            frame.append(0x80 | 127)
            frame += (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xff) }
        }
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        try write(frame)
    }

    func send(text: String) throws { try send(opcode: 1, Array(text.utf8)) }

    /// The next frame within `timeout` seconds, or nil. Pings are answered, as a browser does.
    func receive(timeout: Double = 5) throws -> Frame? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let frame = parse() {
                if frame == .ping { try send(opcode: 10, []) }
                return frame
            }
            let left = deadline.timeIntervalSinceNow
            guard left > 0, try fill(timeout: left) else { return nil }
        }
    }

    /// Frames until `match` says yes (returned), or nil after `timeout`.
    func receive(until match: (Frame) -> Bool, timeout: Double = 10) throws -> Frame? {
        let deadline = Date().addingTimeInterval(timeout)
        while deadline.timeIntervalSinceNow > 0 {
            guard let frame = try receive(timeout: deadline.timeIntervalSinceNow) else { return nil }
            if match(frame) { return frame }
        }
        return nil
    }

    private func parse() -> Frame? {
        guard buffer.count >= 2 else { return nil }
        let opcode = buffer[0] & 0x0f
        var length = Int(buffer[1] & 0x7f), at = 2
        if length == 126 {
            guard buffer.count >= 4 else { return nil }
            length = Int(buffer[2]) << 8 | Int(buffer[3]); at = 4
        } else if length == 127 {
            guard buffer.count >= 10 else { return nil }
            length = buffer[2..<10].reduce(0) { $0 << 8 | Int($1) }; at = 10
        }
        guard buffer.count >= at + length else { return nil }
        let payload = Array(buffer[at..<(at + length)])
        buffer.removeFirst(at + length)
        switch opcode {
        case 1: return .text(String(decoding: payload, as: UTF8.self))
        case 2: return .binary(payload)
        case 8: return .close(payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : 0, String(decoding: payload.dropFirst(2), as: UTF8.self))
        case 9: return .ping
        case 10: return .pong
        default: return parse()
        }
    }
}

