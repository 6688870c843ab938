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
    /// Or media that has waited this long for a browser: a narrow link's backlog is small in bytes but long in time.
    public var mediaQueueDelay: Duration = .milliseconds(250)
    /// Bytes waiting past which the browser is cut off: it does not read even its signaling.
    public var maximumQueueBytes = 16 << 20
    /// Messages from one browser waiting for the hub thread; its media past this is dropped.
    public var inboundMessagesPerBrowser = 256
    /// A WebSocket silent this long (no frame, not even a pong to the gateway's pings) is a lost browser.
    public var idleTimeout: Duration = .seconds(10)
    public var browserLimit = 1000
    /// Origins besides the gateway's own whose pages may load the SDK (CORS) and open `/ws`:
    /// `https://crm.example.com` (scheme, host and port, as a browser sends `Origin`).
    public var allowedOrigins: Set<String> = []
    /// Addresses of reverse proxies whose `X-Forwarded-Host` / `Forwarded: host=` is believed: the host
    /// the browser asked for, when the proxy rewrote `Host`. From anyone else these headers are ignored.
    public var trustedProxies: Set<String> = []
    /// Browser media over WebRTC through Janus; nil: the WebSocket carries all media.
    public var webRTC: WebRTCSettings?

    public init(host: String = "127.0.0.1", port: Int = 8080, hub: String = "tcp://127.0.0.1:5555",
                tokenSecret: TokenSecret? = nil, curve: CurveClientKeys? = nil) {
        self.host = host; self.port = port; self.hub = hub; self.tokenSecret = tokenSecret; self.curve = curve
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
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

    /// An origin as browsers send it: lower-case scheme and host, the port only when not the scheme's
    /// default, no path. Nil when `text` is not one (`null`, a path, another scheme).
    public static func normalizedOrigin(_ text: String) -> String? {
        guard let components = URLComponents(string: text.trimmingCharacters(in: .whitespaces)),
            let scheme = components.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = components.host?.lowercased(), !host.isEmpty,
            components.path.isEmpty || components.path == "/", components.query == nil, components.user == nil
        else { return nil }
        let defaultPort = scheme == "https" ? 443 : 80
        let hostPart = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        guard let port = components.port, port != defaultPort else { return "\(scheme)://\(hostPart)" }
        return "\(scheme)://\(hostPart):\(port)"
    }

    /// The host a proxy says the browser asked for: `X-Forwarded-Host`'s first value, else `Forwarded`'s first `host=`.
    static func forwardedHost(xForwardedHost: String?, forwarded: String?) -> String? {
        if let value = xForwardedHost?.split(separator: ",").first?.trimmingCharacters(in: .whitespaces), !value.isEmpty { return value }
        guard let first = forwarded?.split(separator: ",").first else { return nil }
        for pair in first.split(separator: ";") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2, parts[0].lowercased() == "host" {
                let value = parts[1].hasPrefix("\"") && parts[1].hasSuffix("\"") && parts[1].count >= 2 ? String(parts[1].dropFirst().dropLast()) : parts[1]
                return value.isEmpty ? nil : value
            }
        }
        return nil
    }

    /// Without a token secret anyone who reaches the port could speak for anybody: loopback only.
    public func check() throws(Invalid) {
        if tokenSecret == nil && !Self.isLoopback(host) {
            throw Invalid(description: "without --token-secret, ctlive web listens on loopback only (127.0.0.1, ::1, localhost), not \(host)")
        }
        for origin in allowedOrigins where Self.normalizedOrigin(origin) != origin {
            throw Invalid(description: "--allow-origin \(origin): expected scheme://host[:port], e.g. https://crm.example.com")
        }
        for proxy in trustedProxies {
            var v4 = in_addr(), v6 = in6_addr()
            guard inet_pton(AF_INET, proxy, &v4) == 1 || inet_pton(AF_INET6, proxy, &v6) == 1 else {
                throw Invalid(description: "--trusted-proxy \(proxy): expected an IP address")
            }
        }
    }
}
