import Foundation
import Glibc
import TestKit
import XCTest

/// This machine's first IPv4 address that is not loopback. Janus' ICE (libnice) never gathers on loopback, so a
/// WebRTC test needs one; the tests skip, saying so, on a machine without.
func machineAddress() throws -> String {
    var list: UnsafeMutablePointer<ifaddrs>?
    guard getifaddrs(&list) == 0, let first = list else { throw XCTSkip("getifaddrs failed") }
    defer { freeifaddrs(list) }
    for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
        guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
              entry.pointee.ifa_flags & UInt32(IFF_LOOPBACK) == 0, entry.pointee.ifa_flags & UInt32(IFF_UP) != 0 else { continue }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        if getnameinfo(address, socklen_t(MemoryLayout<sockaddr_in>.size), &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 {
            return String(cString: host)
        }
    }
    throw XCTSkip("no network interface but loopback: Janus' ICE cannot gather candidates here")
}

/// Janus (Debian's `janus`) with only what ctlive web drives: the VideoRoom and Streaming plugins and the HTTP
/// transport.
final class JanusServer {
    let server: ServerProcess
    let httpPort: Int
    var api: String { "http://127.0.0.1:\(httpPort)/janus" }

    init(_ test: XCTestCase, root: String) throws {
        let folder = root + "/janus"
        let system = "/usr/lib/x86_64-linux-gnu/janus"
        for sub in ["plugins", "transports"] { try FileManager.default.createDirectory(atPath: "\(folder)/\(sub)", withIntermediateDirectories: true) }
        for (sub, name) in [("plugins", "libjanus_videoroom.so"), ("plugins", "libjanus_streaming.so"), ("transports", "libjanus_http.so")] {
            try FileManager.default.createSymbolicLink(atPath: "\(folder)/\(sub)/\(name)", withDestinationPath: "\(system)/\(sub)/\(name)")
        }
        httpPort = try freePort()
        // Media ports: a range of 500 of their own (RTP forwards, mountpoints, ICE), apart from other tests'.
        let low = 20_000 + Int.random(in: 0..<60) * 500
        try """
            general: { configs_folder = "\(folder)" plugins_folder = "\(folder)/plugins" transports_folder = "\(folder)/transports"
                       debug_level = 4 session_timeout = 60 }
            media: { rtp_port_range = "\(low)-\(low + 249)" }
            """.write(toFile: folder + "/janus.jcfg", atomically: true, encoding: .utf8)
        try """
            general: { json = "compact" base_path = "/janus" http = true port = \(httpPort) ip = "127.0.0.1" https = false }
            admin: { admin_http = false }
            """.write(toFile: folder + "/janus.transport.http.jcfg", atomically: true, encoding: .utf8)
        try "general: { }".write(toFile: folder + "/janus.plugin.videoroom.jcfg", atomically: true, encoding: .utf8)
        try "general: { rtp_port_range = \"\(low + 250)-\(low + 499)\" }".write(toFile: folder + "/janus.plugin.streaming.jcfg", atomically: true, encoding: .utf8)
        server = try ServerProcess(test, executable: "/usr/bin/janus", arguments: ["-F", folder, "-C", folder + "/janus.jcfg", "-o"],
                                   log: folder + "/janus.log")
        let deadline = Date().addingTimeInterval(15)
        while (try? rawHTTP(port: httpPort, "GET /janus/info HTTP/1.0\r\nHost: localhost\r\n\r\n"))?.status != 200 {
            guard Date() < deadline, server.process.isRunning else { throw NSError(domain: "janus did not start: \(server.log)", code: 1) }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }
}

/// coturn (Debian's `turnserver`) on `address`, with the TURN REST API's shared secret (`use-auth-secret`).
final class TURNServer {
    let server: ServerProcess
    let port: Int
    let secretPath: String

    init(_ test: XCTestCase, root: String, address: String) throws {
        port = try freePort(udp: true)
        secretPath = root + "/turn-secret"
        let secret = UUID().uuidString
        try secret.write(toFile: secretPath, atomically: true, encoding: .utf8)
        let low = 40_000 + Int.random(in: 0..<100) * 200
        server = try ServerProcess(test, executable: "/usr/bin/turnserver", arguments: [
            "-n", "--listening-ip", address, "--relay-ip", address, "--listening-port", "\(port)",
            "--min-port", "\(low)", "--max-port", "\(low + 199)", "--use-auth-secret", "--static-auth-secret", secret,
            "--realm", "ctlive.test", "--no-tls", "--no-dtls", "--no-cli", "--log-file", "stdout",
            "--pidfile", root + "/turnserver.pid", "--simple-log",
        ], log: root + "/turnserver.log")
        let deadline = Date().addingTimeInterval(10)
        while !server.log.contains("listener opened on") && !server.log.contains("Total General servers") {
            guard Date() < deadline, server.process.isRunning else { throw NSError(domain: "turnserver did not start: \(server.log)", code: 1) }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }
}
