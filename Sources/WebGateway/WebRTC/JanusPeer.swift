import Foundation
import Janus
import Logging
import NIOCore
import Signaling

/// Janus' side of one browser media channel: the VideoRoom publisher its camera and microphone go to (forwarded
/// as RTP to this gateway, `rtp_forward`), and one Streaming mountpoint per other participant it watches (fed
/// with RTP by this gateway). Janus does ICE, DTLS-SRTP, NACK/RTX and congestion feedback (TWCC); the gateway
/// only re-frames H.264 and Opus between RTP and the media plane.
actor JanusPeer {
    let client: JanusClient
    let settings: WebRTCSettings
    let logger: Logger
    private var session: JanusSession?
    private var publisher: (handle: JanusHandle, room: UInt64)?
    private var uplinkPorts: [UDPPort] = []
    private var viewers: [Data: (handle: JanusHandle, mountpoint: UInt64)] = [:]
    private var mountpointAdmin: JanusHandle?
    private var lastKeyframeRequest: ContinuousClock.Instant?
    private var capExpiry: ContinuousClock.Instant?
    private var closed = false

    init(client: JanusClient, settings: WebRTCSettings, logger: Logger) {
        self.client = client; self.settings = settings; self.logger = logger
    }

    private func janusSession() async throws -> JanusSession {
        if closed { throw JanusError(operation: "session", code: nil, reason: "the channel closed") }
        if let session { return session }
        let logger = logger
        let created = try await client.createSession { event in
            if ["hangup", "slowlink", "webrtcup"].contains(event.kind) {
                logger.debug("janus event", metadata: ["event": "\(event.kind)", "reason": "\(event.raw["reason"]?.string ?? "")"])
            }
        }
        if closed { await created.destroy(); throw JanusError(operation: "session", code: nil, reason: "the channel closed") }
        session = created
        return created
    }

    /// Publishes the browser's offer into a VideoRoom of its own and has Janus forward its RTP to `tracks`'
    /// ports. Returns Janus' answer for the page.
    func publish(offer: JSONValue, tracks: [(mid: String, kind: UplinkTrack.Kind, port: UDPPort)]) async throws -> JSONValue {
        let session = try await janusSession()
        let handle = try await session.attach(plugin: "janus.plugin.videoroom")
        let room = UInt64.random(in: 1...(1 << 52))
        uplinkPorts += tracks.map(\.port)
        _ = try await handle.request([
            "request": "create", "room": .number(Double(room)), "is_private": true, "publishers": 1,
            "videocodec": "h264", "audiocodec": "opus", "h264_profile": "42e01f",
            // TWCC: the browser's own congestion control (GCC) sets its rate from Janus' feedback.
            "transport_wide_cc_ext": true, "audiolevel_ext": false, "bitrate": 0, "fir_freq": 0,
        ])
        publisher = (handle, room)
        let (_, answer) = try await handle.message(
            ["request": "joinandconfigure", "room": .number(Double(room)), "ptype": "publisher", "display": "ctlive",
             "audio": true, "video": true], jsep: offer)
        guard let answer else { throw JanusError(operation: "joinandconfigure", code: nil, reason: "no answer to the offer") }
        let participants = try await handle.request(["request": "listparticipants", "room": .number(Double(room))])
        guard let feed = participants["participants"]?.array?.first?["id"]?.integer else {
            throw JanusError(operation: "listparticipants", code: nil, reason: "the publisher is not in its room")
        }
        let streams: [JSONValue] = tracks.map { .object(["mid": .string($0.mid), "port": JSONValue($0.port.port)]) }
        _ = try await handle.request([
            "request": "rtp_forward", "room": .number(Double(room)), "publisher_id": .number(Double(feed)),
            "host": .string(settings.forwardHost), "host_family": "ipv4", "streams": .array(streams),
        ])
        return answer
    }

    /// Asks the publishing browser for a keyframe (at most one request in flight per 300 ms).
    func requestKeyframe() async {
        guard let publisher else { return }
        let now = ContinuousClock.now
        if let last = lastKeyframeRequest, now - last < .milliseconds(300) { return }
        lastKeyframeRequest = now
        _ = try? await publisher.handle.message(["request": "configure", "keyframe": true])
    }

    /// Caps the publishing browser's video (Janus sends it REMB) until 5 s after the last request.
    func capBitrate(kbps: Int) async {
        guard let publisher else { return }
        capExpiry = .now + .seconds(5)
        _ = try? await publisher.handle.message(["request": "configure", "bitrate": .number(Double(kbps * 1000))])
        Task { [weak self] in
            try? await Task.sleep(for: .milliseconds(5_200))
            await self?.releaseCapIfExpired()
        }
    }

    private func releaseCapIfExpired() async {
        guard let expiry = capExpiry, ContinuousClock.now >= expiry, let publisher else { return }
        capExpiry = nil
        _ = try? await publisher.handle.message(["request": "configure", "bitrate": 0])
    }

    struct Mountpoint {
        var id: UInt64
        var audioPort: Int
        var videoPort: Int
        var videoRTCPPort: Int?
    }

    /// A mountpoint for `sender`'s media, watched by this browser: returns its ports and Janus' offer.
    func watch(sender: Data) async throws -> (Mountpoint, JSONValue) {
        let session = try await janusSession()
        if mountpointAdmin == nil { mountpointAdmin = try await session.attach(plugin: "janus.plugin.streaming") }
        let id = UInt64.random(in: 1...(1 << 52))
        let created = try await mountpointAdmin!.request([
            "request": "create", "type": "rtp", "id": .number(Double(id)), "is_private": true, "permanent": false,
            "description": "ctlive",
            "media": [
                ["type": "audio", "mid": "a", "port": 0, "pt": 111, "codec": "opus"],
                ["type": "video", "mid": "v", "port": 0, "rtcpport": 0, "pt": 96, "codec": "h264",
                 "fmtp": "profile-level-id=42e01f;packetization-mode=1", "bufferkf": true],
            ],
        ])
        var mountpoint = Mountpoint(id: id, audioPort: 0, videoPort: 0)
        for port in created["stream"]?["ports"]?.array ?? [] {
            let number = Int(port["port"]?.integer ?? 0)
            if port["type"]?.string == "audio" { mountpoint.audioPort = number }
            if port["type"]?.string == "video" {
                mountpoint.videoPort = number
                mountpoint.videoRTCPPort = port["rtcp_port"]?.integer.map(Int.init)
            }
        }
        guard mountpoint.audioPort > 0, mountpoint.videoPort > 0 else {
            throw JanusError(operation: "create mountpoint", code: nil, reason: "no ports in \(created.encoded().count)-byte reply")
        }
        let viewer = try await session.attach(plugin: "janus.plugin.streaming")
        viewers[sender] = (viewer, id)
        let (_, offer) = try await viewer.message(["request": "watch", "id": .number(Double(id))])
        guard let offer else { throw JanusError(operation: "watch", code: nil, reason: "no offer") }
        return (mountpoint, offer)
    }

    func start(sender: Data, answer: JSONValue) async throws {
        guard let viewer = viewers[sender] else { throw JanusError(operation: "start", code: nil, reason: "not watching that participant") }
        _ = try await viewer.handle.message(["request": "start"], jsep: answer)
    }

    /// `sender` left: its mountpoint goes.
    func unwatch(sender: Data) async {
        guard let viewer = viewers.removeValue(forKey: sender) else { return }
        await viewer.handle.detach()
        _ = try? await mountpointAdmin?.request(["request": "destroy", "id": .number(Double(viewer.mountpoint))])
    }

    /// Everything this channel made in Janus goes: mountpoints, the room, the session (and its PeerConnections).
    func close() async {
        guard !closed else { return }
        closed = true
        for port in uplinkPorts { port.close() }
        uplinkPorts = []
        for sender in Array(viewers.keys) { await unwatch(sender: sender) }
        if let publisher {
            _ = try? await publisher.handle.request(["request": "destroy", "room": .number(Double(publisher.room))])
        }
        publisher = nil
        await session?.destroy()
        session = nil
    }
}

/// The mids and kinds of an SDP offer's media sections, in order.
enum SessionDescription {
    static func media(_ sdp: String) -> [(kind: String, mid: String)] {
        var out: [(String, String)] = []
        var kind: String?
        for line in sdp.split(whereSeparator: \.isNewline) {
            if line.hasPrefix("m=") { kind = String(line.dropFirst(2).prefix { $0 != " " }) }
            if line.hasPrefix("a=mid:"), let current = kind { out.append((current, String(line.dropFirst(6)))); kind = nil }
        }
        return out
    }
}
