import Foundation
import Logging
import Signaling
import Synchronization
import ZeroMQ

/// The gateway's ZeroMQ side: for every browser one signaling DEALER to the hub, and one media DEALER
/// per media channel it opens, all owned by one thread (``SocketLoop``).
///
/// Browser to hub, text is the protocol's JSON as is; the hub checks it as it checks anyone's. Hub to
/// browser, signaling is never dropped; media is dropped for a browser that does not keep up (its
/// video then resumes at the next keyframe, which the gateway asks the publisher for).
final class HubBridge: Sendable {
    let loop: SocketLoop<BridgeState>
    let configuration: GatewayConfiguration
    let logger: Logger
    /// Janus, when browsers' media may go over WebRTC.
    let webRTC: WebRTCEdge?
    let counters = Counters()

    /// What went through, counted without a lock (several are bumped per packet).
    final class Counters: Sendable {
        let browsers = Atomic<Int>(0)
        let messagesToHub = Atomic<Int>(0)
        let messagesToBrowsers = Atomic<Int>(0)
        let mediaDroppedToBrowsers = Atomic<Int>(0)
        let mediaDroppedFromBrowsers = Atomic<Int>(0)
        let keyframeRequests = Atomic<Int>(0)

        var snapshot: [String: Int] {
            ["browsers": browsers.load(ordering: .relaxed), "messagesToHub": messagesToHub.load(ordering: .relaxed),
             "messagesToBrowsers": messagesToBrowsers.load(ordering: .relaxed),
             "mediaDroppedToBrowsers": mediaDroppedToBrowsers.load(ordering: .relaxed),
             "mediaDroppedFromBrowsers": mediaDroppedFromBrowsers.load(ordering: .relaxed),
             "keyframeRequests": keyframeRequests.load(ordering: .relaxed)]
        }
    }

    init(configuration: GatewayConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        webRTC = configuration.webRTC.map { WebRTCEdge(settings: $0, logger: logger) }
        loop = try SocketLoop(name: "ctlive-web-hub", inboxLimit: 65_536, tickInterval: .seconds(1))
        let context = try Context.shared()
        try loop.start(context: context, makeState: { _ in BridgeState() },
                       tick: { [configuration] state, _ in state.pingHub(configuration); state.reportToJanus(); return nil },
                       tearDown: { state, owner in state.closeAll(owner) })
    }

    func stop() { loop.stop() }

    func open(_ link: BrowserLink) {
        counters.browsers.add(1, ordering: .relaxed)
        if let webRTC { link.send(.text(webRTC.gatewayInfo(for: link))) }
        let configuration = configuration, logger = logger
        let accepted = loop.submit { [self] state, owner in
            do {
                try state.open(link, configuration: configuration, owner: owner, bridge: self)
            } catch {
                logger.error("cannot connect a browser to the hub", metadata: ["error": "\(error)"])
                link.close(reason: "the gateway cannot reach the hub: \(error)")
            }
        }
        if !accepted { link.close(reason: "the gateway is overloaded") }
    }

    func closed(_ link: BrowserLink) {
        counters.browsers.subtract(1, ordering: .relaxed)
        // Runs even when the inbox is full, or the sockets would outlive the browser.
        loop.submit(evenIfFull: true) { state, owner in state.close(link.id, owner) }
    }

    /// A text message from the browser: one signaling message to the hub.
    func fromBrowser(text: Data, _ link: BrowserLink) -> Bool {
        submitFromBrowser(link) { state in state.sendSignaling(text, for: link.id) }
    }

    /// A binary message from the browser: one media message on one of its channels. False: dropped (counted).
    func fromBrowser(channel: UInt8, frames: [Data], _ link: BrowserLink) -> Bool {
        let accepted = submitFromBrowser(link) { [self] state, owner in
            state.sendMedia(channel: channel, frames: frames, for: link.id, configuration: configuration, owner: owner, bridge: self)
        }
        if !accepted { counters.mediaDroppedFromBrowsers.add(1, ordering: .relaxed) }
        return accepted
    }

    private func submitFromBrowser(_ link: BrowserLink, _ job: @escaping @Sendable (BridgeState, SocketLoopOwner) -> Void) -> Bool {
        guard link.inboundInFlight.add(1, ordering: .relaxed).newValue <= configuration.inboundMessagesPerBrowser else {
            link.inboundInFlight.subtract(1, ordering: .relaxed)
            return false
        }
        let accepted = loop.submit { state, owner in
            link.inboundInFlight.subtract(1, ordering: .relaxed)
            job(state, owner)
        }
        if !accepted { link.inboundInFlight.subtract(1, ordering: .relaxed) }
        return accepted
    }

    private func submitFromBrowser(_ link: BrowserLink, _ job: @escaping @Sendable (BridgeState) -> Void) -> Bool {
        submitFromBrowser(link) { state, _ in job(state) }
    }

    // MARK: Hub to browser (on the loop thread)

    fileprivate func deliverSignaling(_ data: Data, to session: BrowserSession) {
        counters.messagesToBrowsers.add(1, ordering: .relaxed)
        if session.link.queuedBytes.load(ordering: .relaxed) > configuration.maximumQueueBytes {
            logger.warning("browser cut off: it does not read", metadata: ["browser": "\(session.link.id)"])
            session.link.close(reason: "the browser did not read its messages")
            return
        }
        session.link.send(.text(data))
    }

    /// Hub to browser on a media channel. Headers are read only while media to this browser is being
    /// dropped (behind, or waiting for a keyframe), and for the rare track announcements.
    fileprivate func deliverMedia(_ frames: [Data], channel: UInt8, to session: BrowserSession, socket: Socket) {
        let link = session.link
        if frames.count == 2 { session.learnTrack(frames, channel: channel) }
        if let webRTC, let state = session.webRTC[channel], !state.forward(frames, edge: webRTC, session: session, channel: channel, bridge: self) {
            return
        }
        if frames.count == 3 {
            let late = link.queuedBytes.load(ordering: .relaxed) > configuration.mediaQueueBytes || link.queueDelay > configuration.mediaQueueDelay
            if late || !session.awaitingKeyframe.isEmpty {
                let header = (try? WireCodec.mediaFromHub.decode(frames[1]))?.message as? PacketHeader
                let stream = MediaStreamKey(channel: channel, sender: frames[0], track: header?.track)
                if !late && !session.awaitingKeyframe.contains(stream) {
                    // Behind on another stream only: this one goes on.
                } else if !late, header?.key == true {
                    session.awaitingKeyframe.remove(stream)
                    session.keyframeAsked[stream] = nil
                } else {
                    drop(stream, session, socket)
                    return
                }
            }
        } else if frames.count == 2,
                  let track = (try? WireCodec.mediaFromHub.decode(frames[1]))?.message as? TrackAnnouncement, track.kind == "video" {
            session.videoTracks.insert(MediaStreamKey(channel: channel, sender: frames[0], track: track.track))
        }
        counters.messagesToBrowsers.add(1, ordering: .relaxed)
        link.send(.binary(BinaryFrames.encode(channel: channel, frames: frames)))
    }

    /// A packet the browser will not get; its video track then waits for a keyframe, asked for once a second.
    private func drop(_ stream: MediaStreamKey, _ session: BrowserSession, _ socket: Socket) {
        logger.trace("media dropped", metadata: ["browser": "\(session.link.id)", "queued": "\(session.link.queuedBytes.load(ordering: .relaxed))"])
        session.link.droppedToBrowser.add(1, ordering: .relaxed)
        counters.mediaDroppedToBrowsers.add(1, ordering: .relaxed)
        guard session.videoTracks.contains(stream), let track = stream.track else { return }
        session.awaitingKeyframe.insert(stream)
        // Again each second while waiting: a keyframe that came while still behind was dropped too.
        let now = ContinuousClock.now
        guard session.keyframeAsked[stream].map({ now - $0 >= .seconds(1) }) ?? true else { return }
        session.keyframeAsked[stream] = now
        let request = KeyframeRequest(track: track, participant: String(decoding: stream.sender, as: UTF8.self))
        try? socket.send([WireCodec.encode(request)], wait: false)
        counters.keyframeRequests.add(1, ordering: .relaxed)
    }

    fileprivate func countToHub() { counters.messagesToHub.add(1, ordering: .relaxed) }
    fileprivate func countDroppedFromBrowser() { counters.mediaDroppedFromBrowsers.add(1, ordering: .relaxed) }
}

struct MediaStreamKey: Hashable {
    var channel: UInt8
    var sender: Data
    var track: String?
}

/// One browser's sockets. Loop thread only.
final class BrowserSession {
    let link: BrowserLink
    let signaling: Socket
    var media: [UInt8: Socket] = [:]
    /// From the last `roomStarted`: where media channels connect.
    var mediaEndpoint: String?
    /// After a `welcome`: the gateway keeps the connection alive for the browser.
    var welcomed = false
    var videoTracks: Set<MediaStreamKey> = []
    var awaitingKeyframe: Set<MediaStreamKey> = []
    var keyframeAsked: [MediaStreamKey: ContinuousClock.Instant] = [:]
    /// Tracks the hub announced, per channel and sender: what the WebRTC downlink needs to packetize them.
    var tracks: [MediaStreamKey: TrackAnnouncement] = [:]
    /// Channels whose media goes over WebRTC.
    var webRTC: [UInt8: WebRTCChannel] = [:]

    init(link: BrowserLink, signaling: Socket) { self.link = link; self.signaling = signaling }
}

/// Every browser's sockets, on the loop thread.
final class BridgeState {
    var sessions: [UInt64: BrowserSession] = [:]
    private static let ping = WireCodec.encode(Ping())

    func open(_ link: BrowserLink, configuration: GatewayConfiguration, owner: SocketLoopOwner, bridge: HubBridge) throws {
        let socket = try Self.dealer(configuration, owner.context, endpoint: configuration.hub,
                                     maxMessage: SignalingProtocol.transportMaxMessageBytes)
        let session = BrowserSession(link: link, signaling: socket)
        sessions[link.id] = session
        owner.watch(socket) { [bridge] socket in
            while let received = try? socket.receive(wait: false, maxFrames: 2) {
                guard received.message.frames.count == 1, !received.truncated else { continue }
                let data = received.message.frames[0]
                if Self.learn(from: data, session) == .ownPong { continue }
                bridge.deliverSignaling(data, to: session)
            }
        }
    }

    private enum Heard { case forTheBrowser, ownPong }

    /// What the gateway needs to know of the hub's messages: that a hello was welcomed, where media goes,
    /// and which `pong`s answer its own keep-alive pings (they carry no `re`) rather than the browser's.
    private static func learn(from data: Data, _ session: BrowserSession) -> Heard {
        guard data.count < 4096, let envelope = try? WireCodec.hubToClient.decode(data) else { return .forTheBrowser }
        switch envelope.message {
        case is Pong where envelope.re == nil: return .ownPong
        case is Welcome: session.welcomed = true
        case let started as RoomStarted: if let endpoint = started.mediaEndpoint { session.mediaEndpoint = endpoint }
        case let error as ErrorReply where error.code == .helloRequired: session.welcomed = false
        default: break
        }
        return .forTheBrowser
    }

    static func dealer(_ configuration: GatewayConfiguration, _ context: Context, endpoint: String, maxMessage: Int64) throws -> Socket {
        let socket = try Socket(context, .dealer)
        // A browser that goes away takes its unsent messages with it.
        try socket.setLinger(milliseconds: 0)
        try socket.setMaxMessageSize(maxMessage)
        try socket.setHeartbeat(intervalMilliseconds: 1000, timeoutMilliseconds: 5000)
        if let curve = configuration.curve {
            try socket.makeCurveClient(CurveKeyPair(publicKey: curve.publicKey, secretKey: curve.secretKey), serverKey: curve.serverPublicKey)
        }
        try socket.connect(endpoint)
        return socket
    }

    func sendSignaling(_ data: Data, for id: UInt64) {
        guard let session = sessions[id] else { return }
        do { try session.signaling.send([data], wait: false) } catch {
            session.link.send(.text(WireCodec.encode(ErrorReply(ProtocolError(.queueFull, "the gateway could not pass this on to the hub: \(error)")),
                                                     re: WireCodec.peekID(data))))
        }
    }

    func sendMedia(channel: UInt8, frames: [Data], for id: UInt64, configuration: GatewayConfiguration, owner: SocketLoopOwner, bridge: HubBridge) {
        guard let session = sessions[id] else { return }
        if frames.count == 1, let request = WebRTCRequest(frames[0]) {
            handle(request, channel: channel, session: session, bridge: bridge)
            return
        }
        if frames.isEmpty {
            session.endWebRTC(channel: channel)
            session.tracks = session.tracks.filter { $0.key.channel != channel }
            if let socket = session.media.removeValue(forKey: channel) { owner.unwatch(socket); socket.close() }
            session.videoTracks = session.videoTracks.filter { $0.channel != channel }
            session.awaitingKeyframe = session.awaitingKeyframe.filter { $0.channel != channel }
            session.keyframeAsked = session.keyframeAsked.filter { $0.key.channel != channel }
            return
        }
        if session.media[channel] == nil {
            guard let endpoint = session.mediaEndpoint else {
                let refusal = ErrorReply(ProtocolError(.helloRequired, "no room with media has started on this connection"))
                session.link.send(.binary(BinaryFrames.encode(channel: channel, frames: [WireCodec.encode(refusal)])))
                return
            }
            do {
                let socket = try Self.dealer(configuration, owner.context, endpoint: endpoint,
                                             maxMessage: Int64(MediaLimits.maxPacketBytes) + 64 * 1024)
                try socket.setSendHighWaterMark(300)
                session.media[channel] = socket
                owner.watch(socket) { [bridge] socket in
                    while let received = try? socket.receive(wait: false, maxFrames: 3) {
                        guard !received.truncated else { continue }
                        bridge.deliverMedia(received.message.frames, channel: channel, to: session, socket: socket)
                    }
                }
            } catch {
                session.link.close(reason: "the gateway cannot reach the media relay: \(error)")
                return
            }
        }
        guard let socket = session.media[channel] else { return }
        do {
            try socket.send(frames, wait: false)
            bridge.countToHub()
        } catch {
            // The relay's queue is full: media is lost, as on any congested link.
            bridge.countDroppedFromBrowser()
        }
    }

    /// Keeps every welcomed browser's hub connection alive: its WebSocket, which the gateway pings, is the liveness.
    func pingHub(_ configuration: GatewayConfiguration) {
        for session in sessions.values where session.welcomed {
            try? session.signaling.send([Self.ping], wait: false)
        }
    }

    func close(_ id: UInt64, _ owner: SocketLoopOwner) {
        guard let session = sessions.removeValue(forKey: id) else { return }
        for channel in Array(session.webRTC.keys) { session.endWebRTC(channel: channel) }
        for socket in [session.signaling] + Array(session.media.values) {
            owner.unwatch(socket)
            socket.close()
        }
    }

    func closeAll(_ owner: SocketLoopOwner) {
        for id in Array(sessions.keys) { close(id, owner) }
    }
}
