import Foundation
import Janus
import Logging
import NIOCore
import RTP
import Signaling
import Synchronization
import ZeroMQ

/// The gateway-wide part of WebRTC: the Janus client, and what pages are told at connect.
final class WebRTCEdge: Sendable {
    let settings: WebRTCSettings
    let client: JanusClient
    let logger: Logger

    init(settings: WebRTCSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        client = JanusClient(endpoint: settings.janus.absoluteString, apiSecret: settings.apiSecret, logger: logger)
    }

    /// The first message a page gets: WebRTC is on offer, with these ICE servers (TURN credentials minted for it).
    func gatewayInfo(for link: BrowserLink) -> Data {
        let user = link.claims?.user ?? "browser-\(link.id)"
        let info: [String: Any] = [
            "v": 1, "type": "gatewayInfo",
            "webrtc": ["iceServers": settings.iceServersJSON(user: user), "iceTimeoutMs": Int(settings.iceTimeout / .milliseconds(1))],
        ]
        return (try? JSONSerialization.data(withJSONObject: info, options: [.sortedKeys])) ?? Data()
    }
}

/// What a page sends the gateway itself on a media channel (never passed to the hub).
enum WebRTCRequest {
    /// Media on this channel goes over WebRTC; `offer` publishes the page's camera and microphone.
    case start(offer: JSONValue?, width: Int32, height: Int32)
    /// The page's answer to the offer for watching `participant`.
    case answer(participant: String, jsep: JSONValue)
    /// ICE failed or timed out: this channel goes back to the WebSocket.
    case stop

    init?(_ data: Data) {
        // Cheap test first: most one-frame media messages are the hub's protocol.
        guard data.count < 256 * 1024, data.range(of: Data("\"webrtc".utf8)) != nil,
              let message = try? JSONValue.decode(data), let type = message["type"]?.string else { return nil }
        switch type {
        case "webrtcStart":
            let offer = message["jsep"]
            if let offer, offer["type"]?.string != "offer" || offer["sdp"]?.string == nil { return nil }
            let width = Int32(clamping: message["width"]?.integer ?? 640), height = Int32(clamping: message["height"]?.integer ?? 360)
            self = .start(offer: offer, width: min(width, 8192), height: min(height, 8192))
        case "webrtcAnswer":
            guard let participant = message["participant"]?.string, SignalingProtocol.isValidID(participant),
                  let jsep = message["jsep"], jsep["type"]?.string == "answer", jsep["sdp"]?.string != nil else { return nil }
            self = .answer(participant: participant, jsep: jsep)
        case "webrtcStop":
            self = .stop
        default:
            return nil
        }
    }
}

/// One browser channel's WebRTC state, on the hub thread: the Janus peer, and per watched participant the RTP
/// stream this gateway feeds to its mountpoint.
final class WebRTCChannel {
    let peer: JanusPeer
    var downlinks: [Data: Downlink] = [:]
    var pending: Set<Data> = []
    /// Participants whose mountpoint could not be made: their media stays on the WebSocket.
    var failed: Set<Data> = []

    init(peer: JanusPeer) { self.peer = peer }

    /// Hub media for a WebRTC channel. True: the browser gets it over the WebSocket as well (signaling, track
    /// announcements, codecs WebRTC cannot carry).
    func forward(_ frames: [Data], edge: WebRTCEdge, session: BrowserSession, channel: UInt8, bridge: HubBridge) -> Bool {
        switch frames.count {
        case 1:
            let peer = peer
            if frames[0].range(of: Data("\"keyframeRequest\"".utf8)) != nil {
                Task { await peer.requestKeyframe() }
            } else if frames[0].range(of: Data("\"bitrateRequest\"".utf8)) != nil,
                      let request = (try? WireCodec.mediaFromHub.decode(frames[0]))?.message as? BitrateRequest {
                // Someone watching has a narrower link: Janus caps the browser's rate (REMB) for a while.
                Task { await peer.capBitrate(kbps: request.maxKbps) }
            }
            return true
        case 2:
            if !failed.contains(frames[0]) { startViewer(sender: frames[0], session: session, channel: channel, bridge: bridge, edge: edge) }
            return true
        case 3:
            let sender = frames[0]
            guard let header = (try? WireCodec.mediaFromHub.decode(frames[1]))?.message as? PacketHeader,
                  let track = session.tracks[MediaStreamKey(channel: channel, sender: sender, track: header.track)] else { return false }
            guard Downlink.carries(track), !failed.contains(sender) else { return true }
            downlinks[sender]?.send(header, payload: frames[2], track: track)
            return false
        default:
            return true
        }
    }

    func startViewer(sender: Data, session: BrowserSession, channel: UInt8, bridge: HubBridge, edge: WebRTCEdge) {
        guard downlinks[sender] == nil, !pending.contains(sender) else { return }
        pending.insert(sender)
        let identity = ObjectIdentifier(self), peer = peer, link = session.link
        Task { await WebRTCChannel.watch(sender: sender, peer: peer, link: link, channel: channel, identity: identity, bridge: bridge, edge: edge) }
    }

    private static func watch(sender: Data, peer: JanusPeer, link: BrowserLink, channel: UInt8, identity: ObjectIdentifier,
                              bridge: HubBridge, edge: WebRTCEdge) async {
        let linkID = link.id
        do {
            let watched = try await peer.watch(sender: sender)
            let port = try await UDPPort.bind(host: "0.0.0.0") { bytes, _ in
                guard RTCP.requestsKeyframe(bytes) else { return }
                bridge.loop.submit { state, _ in state.askKeyframe(of: sender, linkID: linkID, channel: channel) }
            }
            let downlink = try Downlink(port: port, mountpoint: watched.0, janusHost: edge.settings.janusHost)
            let accepted = bridge.loop.submit { state, _ in
                guard let channelState = state.sessions[linkID]?.webRTC[channel], ObjectIdentifier(channelState) == identity else {
                    port.close()
                    return
                }
                channelState.pending.remove(sender)
                channelState.downlinks[sender] = downlink
            }
            if !accepted { port.close() }
            link.send(.binary(BinaryFrames.encode(channel: channel, frames: [json([
                "type": "webrtcOffer", "participant": .string(String(decoding: sender, as: UTF8.self)), "jsep": watched.1])])))
        } catch {
            edge.logger.warning("cannot watch a participant over WebRTC: its media stays on the WebSocket",
                                metadata: ["browser": "\(linkID)", "error": "\(error)"])
            bridge.loop.submit { state, _ in
                guard let channelState = state.sessions[linkID]?.webRTC[channel], ObjectIdentifier(channelState) == identity else { return }
                channelState.pending.remove(sender)
                channelState.failed.insert(sender)
            }
        }
    }

    func close() {
        for downlink in downlinks.values { downlink.port.close() }
        downlinks = [:]
        let peer = peer
        Task { await peer.close() }
    }

    static func json(_ value: JSONValue) -> Data {
        guard case .object(var object) = value else { return value.encoded() }
        object["v"] = 1
        return JSONValue.object(object).encoded()
    }
}

/// RTP to one mountpoint: one participant's H.264 and Opus, re-framed, never re-encoded. Made in a task, then
/// handed to the hub thread, which alone uses it.
final class Downlink: @unchecked Sendable {
    let port: UDPPort
    private let audioAddress: SocketAddress
    private let videoAddress: SocketAddress
    private let rtcpAddress: SocketAddress?
    private var audio = RTPStream(payloadType: 111, clockRate: 48_000)
    private var video = RTPStream(payloadType: 96, clockRate: 90_000)
    private let packetizer = H264Packetizer(maximumPayload: 1_150)
    private var lastSent: ContinuousClock.Instant?

    init(port: UDPPort, mountpoint: JanusPeer.Mountpoint, janusHost: String) throws {
        self.port = port
        audioAddress = try SocketAddress.makeAddressResolvingHost(janusHost, port: mountpoint.audioPort)
        videoAddress = try SocketAddress.makeAddressResolvingHost(janusHost, port: mountpoint.videoPort)
        rtcpAddress = try mountpoint.videoRTCPPort.map { try SocketAddress.makeAddressResolvingHost(janusHost, port: $0) }
    }

    static func carries(_ track: TrackAnnouncement) -> Bool { track.codec == "h264" || track.codec == "opus" }

    func send(_ header: PacketHeader, payload: Data, track: TrackAnnouncement) {
        let bytes = [UInt8](payload)
        let numerator = Int64(track.timeBaseNum), denominator = Int64(track.timeBaseDen)
        if track.kind == "audio" {
            let timestamp = audio.rtpTimestamp(header.pts, numerator: numerator, denominator: denominator)
            for packet in audio.packets([bytes], timestamp: timestamp) { port.send(packet.bytes, to: audioAddress) }
            return
        }
        var annexB = bytes
        if let avcC = Data(base64Encoded: track.extradata).map({ [UInt8]($0) }), let parameters = H264.parameterSets(avcC: avcC) {
            // MP4-style publishers send length-prefixed units; parameter sets go in front of every keyframe.
            guard let converted = H264.annexB(lengthPrefixed: bytes, lengthSize: parameters.lengthSize) else { return }
            annexB = header.key ? parameters.annexB + converted : converted
        }
        // Capture times on the RTP clock, audio and video alike: the watching browser keeps them in sync.
        let timestamp = video.rtpTimestamp(header.pts, numerator: numerator, denominator: denominator)
        for packet in video.packets(packetizer.payloads(annexB: annexB), timestamp: timestamp) { port.send(packet.bytes, to: videoAddress) }
        lastSent = .now
    }

    /// A sender report each second, so Janus knows where this stream's feedback (its viewers' PLIs) goes.
    func report() {
        guard let rtcpAddress, lastSent != nil else { return }
        let now = Date().timeIntervalSince1970 + 2_208_988_800
        let seconds = UInt32(truncatingIfNeeded: Int64(now))
        let fraction = UInt32(truncatingIfNeeded: Int64((now - now.rounded(.down)) * 4_294_967_296))
        port.send(RTCP.senderReport(ssrc: video.ssrc, ntpSeconds: seconds, ntpFraction: fraction, rtpTimestamp: video.lastTimestamp,
                                    packets: video.packets, octets: video.octets), to: rtcpAddress)
    }
}

/// A track's uplink state, shared with its UDP port's receive callback.
private final class UplinkBox: Sendable {
    let track: Mutex<UplinkTrack>
    init(_ track: UplinkTrack) { self.track = Mutex(track) }
}

extension BridgeState {
    func handle(_ request: WebRTCRequest, channel: UInt8, session: BrowserSession, bridge: HubBridge) {
        guard let edge = bridge.webRTC else {
            session.link.send(.binary(BinaryFrames.encode(channel: channel, frames: [WebRTCChannel.json([
                "type": "webrtcError", "message": "this gateway has no WebRTC (ctlive web --janus)"])])))
            return
        }
        switch request {
        case .start(let offer, let width, let height):
            guard session.media[channel] != nil, session.webRTC[channel] == nil else { return }
            let state = WebRTCChannel(peer: JanusPeer(client: edge.client, settings: edge.settings, logger: edge.logger))
            session.webRTC[channel] = state
            if let offer { publish(offer, width: width, height: height, state: state, channel: channel, session: session, bridge: bridge, edge: edge) }
            for sender in Set(session.tracks.keys.filter { $0.channel == channel }.map(\.sender)) {
                state.startViewer(sender: sender, session: session, channel: channel, bridge: bridge, edge: edge)
            }
        case .answer(let participant, let jsep):
            guard let state = session.webRTC[channel] else { return }
            let sender = Data(participant.utf8), linkID = session.link.id, logger = edge.logger, peer = state.peer
            Task {
                do {
                    try await peer.start(sender: sender, answer: jsep)
                    bridge.loop.submit { bridgeState, _ in bridgeState.askKeyframe(of: sender, linkID: linkID, channel: channel) }
                } catch {
                    logger.warning("janus start failed", metadata: ["browser": "\(linkID)", "error": "\(error)"])
                }
            }
        case .stop:
            session.endWebRTC(channel: channel)
        }
    }

    private func publish(_ offer: JSONValue, width: Int32, height: Int32, state: WebRTCChannel, channel: UInt8, session: BrowserSession,
                         bridge: HubBridge, edge: WebRTCEdge) {
        let link = session.link, linkID = link.id, peer = state.peer, settings = edge.settings, logger = edge.logger
        let media = SessionDescription.media(offer["sdp"]?.string ?? "").filter { $0.kind == "audio" || $0.kind == "video" }
        Task {
            do {
                var tracks: [(mid: String, kind: UplinkTrack.Kind, port: UDPPort)] = []
                for (kind, mid) in media where !tracks.contains(where: { ($0.kind == .video) == (kind == "video") }) {
                    let box = UplinkBox(UplinkTrack(kind: kind == "video" ? .video : .audio, width: width, height: height))
                    let port = try await UDPPort.bind(host: settings.forwardHost) { bytes, from in
                        // Only Janus forwards here.
                        if let address = from.ipAddress, address != settings.janusHost, settings.janusHost != "localhost" { return }
                        let wallClockUs = Int64(Date().timeIntervalSince1970 * 1_000_000)
                        let (messages, needsKeyframe) = box.track.withLock { $0.receive(bytes, at: .now, wallClockUs: wallClockUs) }
                        if !messages.isEmpty {
                            bridge.loop.submit { bridgeState, _ in bridgeState.sendFromEdge(messages, linkID: linkID, channel: channel) }
                        }
                        if needsKeyframe { Task { await peer.requestKeyframe() } }
                    }
                    tracks.append((mid, kind == "video" ? .video : .audio, port))
                }
                let answer = try await peer.publish(offer: offer, tracks: tracks)
                link.send(.binary(BinaryFrames.encode(channel: channel, frames: [WebRTCChannel.json(["type": "webrtcAnswer", "jsep": answer])])))
            } catch {
                logger.warning("WebRTC publish failed: the page falls back to the WebSocket", metadata: ["browser": "\(linkID)", "error": "\(error)"])
                link.send(.binary(BinaryFrames.encode(channel: channel, frames: [WebRTCChannel.json([
                    "type": "webrtcError", "message": .string("\(error)")])])))
                bridge.loop.submit { bridgeState, _ in bridgeState.sessions[linkID]?.endWebRTC(channel: channel) }
            }
        }
    }

    /// Media the browser published over WebRTC, re-framed by the edge: onto its media socket.
    func sendFromEdge(_ messages: [[Data]], linkID: UInt64, channel: UInt8) {
        guard let session = sessions[linkID], session.webRTC[channel] != nil, let socket = session.media[channel] else { return }
        for frames in messages { _ = try? socket.send(frames, wait: false) }
    }

    /// A viewer needs a picture: ask the hub for a keyframe of `sender`'s video.
    func askKeyframe(of sender: Data, linkID: UInt64, channel: UInt8) {
        guard let session = sessions[linkID], let socket = session.media[channel] else { return }
        let participant = String(decoding: sender, as: UTF8.self)
        for (key, track) in session.tracks where key.channel == channel && key.sender == sender && track.kind == "video" {
            try? socket.send([WireCodec.encode(KeyframeRequest(track: track.track, participant: participant))], wait: false)
        }
    }

    func reportToJanus() {
        for session in sessions.values {
            for channel in session.webRTC.values { for downlink in channel.downlinks.values { downlink.report() } }
        }
    }
}

extension BrowserSession {
    /// Remembers a track the hub announced on `channel` (sender id, `track` JSON).
    func learnTrack(_ frames: [Data], channel: UInt8) {
        guard let track = (try? WireCodec.mediaFromHub.decode(frames[1]))?.message as? TrackAnnouncement else { return }
        tracks[MediaStreamKey(channel: channel, sender: frames[0], track: track.track)] = track
    }

    func endWebRTC(channel: UInt8) {
        webRTC.removeValue(forKey: channel)?.close()
    }
}
