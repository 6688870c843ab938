import AccessToken
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import ZeroMQ

/// How `ctlive web` listens, where it finds the hub, and who it lets in.
public struct GatewayConfiguration: Sendable {
    /// `host:port` to listen on (port 0: the system chooses).
    public var host: String
    public var port: Int
    /// The hub's signaling endpoint; media endpoints come from the hub's `roomStarted`.
    public var hub: String
    /// With a secret, a browser is admitted only with `?token=` signed by it; without, only loopback is served.
    public var tokenSecret: TokenSecret?
    /// CURVE keys of the gateway itself, listed in the hub's keys file under `gateways`.
    public var curve: CurveClientKeys?
    /// Bytes waiting to be written to one browser past which media to it is dropped (and a keyframe asked for).
    public var mediaQueueBytes = 2 << 20
    /// Bytes waiting past which the browser is cut off: it does not read even its signaling.
    public var maximumQueueBytes = 16 << 20
    /// Messages from one browser waiting for the hub thread; its media past this is dropped.
    public var inboundMessagesPerBrowser = 256
    /// A WebSocket silent this long (no frame, not even a pong to the gateway's pings) is a lost browser.
    public var idleTimeout: Duration = .seconds(10)
    public var browserLimit = 1000

    public init(host: String = "127.0.0.1", port: Int = 8080, hub: String = "tcp://127.0.0.1:5555",
                tokenSecret: TokenSecret? = nil, curve: CurveClientKeys? = nil) {
        self.host = host; self.port = port; self.hub = hub; self.tokenSecret = tokenSecret; self.curve = curve
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// `HOST:PORT`, `[v6]:PORT` or `:PORT`.
    public static func parseListen(_ text: String) throws(Invalid) -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw Invalid(description: "--http \(text): expected HOST:PORT")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }

    /// The host of a `Host` header: `127.0.0.1:8080` → `127.0.0.1`, `[::1]:8080` → `::1`, `localhost` → `localhost`.
    static func hostName(ofHostHeader header: String) -> String {
        if header.hasPrefix("["), let close = header.firstIndex(of: "]") {
            return String(header[header.index(after: header.startIndex)..<close])
        }
        return String(header.prefix { $0 != ":" })
    }

    /// `localhost`, `::1`, or an IPv4 address in 127.0.0.0/8, written as an address: a name such as
    /// `127.evil.example` is not loopback, whatever it resolves to.
    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        var address = in_addr()
        guard inet_pton(AF_INET, host, &address) == 1 else { return false }
        return UInt32(bigEndian: address.s_addr) >> 24 == 127
    }

    /// Without a token secret anyone who reaches the port could speak for anybody: loopback only.
    public func check() throws(Invalid) {
        if tokenSecret == nil && !Self.isLoopback(host) {
            throw Invalid(description: "without --token-secret, ctlive web listens on loopback only (127.0.0.1, ::1, localhost), not \(host)")
        }
    }
}
