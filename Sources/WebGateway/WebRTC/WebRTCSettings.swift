import Crypto
import Foundation

/// How `ctlive web` reaches Janus, and what it tells pages about ICE (docs/WEBRTC.md).
public struct WebRTCSettings: Sendable {
    /// Janus' HTTP API, e.g. `http://127.0.0.1:8088/janus`.
    public var janus: URL
    public var apiSecret: String?
    /// The address Janus sends the browsers' forwarded RTP to: this gateway as Janus sees it.
    public var forwardHost = "127.0.0.1"
    /// STUN and TURN servers for pages (`stun:…`, `turn:…?transport=udp`, `turns:…`).
    public var iceServers: [String] = []
    /// TURN credentials: either fixed (`user`, `credential`) or minted per browser from coturn's shared secret
    /// (its `use-auth-secret` / `static-auth-secret`, the TURN REST API scheme), valid for `turnLifetime`.
    public var turnUser: String?
    public var turnCredential: String?
    public var turnSecret: String?
    public var turnLifetime: Duration = .seconds(3600)
    /// Browsers whose ICE has not connected after this long fall back to the WebSocket.
    public var iceTimeout: Duration = .seconds(8)

    public init(janus: URL) { self.janus = janus }

    /// The host to send RTP to Janus' Streaming mountpoints: where its API is.
    public var janusHost: String { janus.host ?? "127.0.0.1" }

    /// The `iceServers` array for `RTCPeerConnection`, with credentials for `user` on TURN entries.
    public func iceServersJSON(user: String, now: Date = Date()) -> [[String: Any]] {
        iceServers.map { url in
            var entry: [String: Any] = ["urls": url]
            guard url.hasPrefix("turn:") || url.hasPrefix("turns:") else { return entry }
            if let turnSecret {
                let expiry = Int(now.timeIntervalSince1970) + Int(turnLifetime / .seconds(1))
                let name = "\(expiry):\(user)"
                let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Data(name.utf8), using: SymmetricKey(data: Data(turnSecret.utf8)))
                entry["username"] = name
                entry["credential"] = Data(mac).base64EncodedString()
            } else if let turnUser, let turnCredential {
                entry["username"] = turnUser
                entry["credential"] = turnCredential
            }
            return entry
        }
    }

    public func check() throws(GatewayConfiguration.Invalid) {
        guard let scheme = janus.scheme, ["http", "https"].contains(scheme), janus.host != nil else {
            throw .init(description: "--janus \(janus): expected http(s)://HOST:PORT/janus")
        }
        for url in iceServers where !(["stun:", "stuns:", "turn:", "turns:"].contains { url.hasPrefix($0) }) {
            throw .init(description: "--ice-server \(url): expected stun:, stuns:, turn: or turns:")
        }
        if iceServers.contains(where: { $0.hasPrefix("turn") }) && turnSecret == nil && (turnUser == nil || turnCredential == nil) {
            throw .init(description: "a TURN server needs --turn-secret FILE or --turn-user USER:PASSWORD")
        }
    }
}
