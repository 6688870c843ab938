import Foundation
import Logging
import Signaling
import Synchronization
import ZeroMQ

/// Where and how a hub listens.
public struct HubConfiguration: Sendable {
    /// The default signaling endpoint: loopback only.
    public static let defaultSignalingEndpoint = "tcp://127.0.0.1:5555"

    public static let defaultMediaEndpoint = "tcp://127.0.0.1:5556"

    public var signalingEndpoint = HubConfiguration.defaultSignalingEndpoint
    /// Where the media relay listens; nil runs the hub without a media plane.
    public var mediaEndpoint: String? = HubConfiguration.defaultMediaEndpoint
    public var policy = HubPolicy()
    /// CURVE: the hub's keys and the clients it admits. Nil: no encryption, loopback/ipc/inproc only.
    public var keys: KeysFile?
    /// Allows binding a non-local endpoint without keys.
    public var insecure = false
    public var hubVersion = "0.1.0"
    /// The hub's time, for timers and what it tells people: the system's, or a test's own.
    public var clock: any HubClock = SystemHubClock()

    public init() {}
}

/// Why a hub did not start: a configuration it refuses, or a ZeroMQ call that failed (kept, with its errno).
public enum HubStartError: Error, CustomStringConvertible {
    /// The configuration asks for something the hub will not do (a public endpoint without keys).
    case refused(String)
    /// A socket could not be made, configured or bound: `EADDRINUSE` when an endpoint is taken.
    case transport(ZMQError)

    public var description: String {
        switch self {
        case .refused(let reason): reason
        case .transport(let error): "\(error)"
        }
    }

    /// An endpoint is already bound by someone else.
    public var isAddressInUse: Bool {
        if case .transport(let error) = self { return error.errno == EADDRINUSE }
        return false
    }
}

/// The CTLive hub: a ROUTER-side broker of contacts, escalations and video rooms.
///
/// Its sockets live on one thread of its own (a ``SocketLoop``), started by ``start()``, ended by ``stop()``.
/// Every message from the network is size-limited, decoded, validated and authorised before it
/// touches state; a bad one gets an `error` reply and changes nothing.
public final class Hub: Sendable {
    public let configuration: HubConfiguration
    private let logger: Logger
    /// Made by ``start()`` (it needs a descriptor, which can run out: that is an error, not a crash).
    private let loop = Mutex<SocketLoop<HubServer>?>(nil)
    private let finished = DispatchSemaphore(value: 0)
    private let stats = Mutex(Statistics())
    private let boundMedia = Mutex<String?>(nil)

    /// Counters for tests, benchmarks and logs.
    public struct Statistics: Sendable {
        public var messagesIn = 0
        public var messagesOut = 0
        public var refused = 0
        public var dropped = 0
        public var connectedClients = 0
        public var openContacts = 0
        public var activeRooms = 0
        public var mediaPacketsIn = 0
        public var mediaPacketsOut = 0
        public var mediaDropped = 0
        public var mediaRefused = 0
        public var keyframeRequests = 0
    }

    public init(configuration: HubConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public var statistics: Statistics { stats.withLock { $0 } }

    /// Checks the endpoint is allowed, binds, and starts serving on a new thread.
    /// - Returns: the endpoint bound (with the port chosen when the configuration asked for port 0).
    public func start() throws(HubStartError) -> String {
        try Self.checkEndpoint(configuration)
        let loop: SocketLoop<HubServer>
        let context: Context
        do {
            loop = try SocketLoop(name: "ctlive-hub", inboxLimit: 16, tickInterval: .milliseconds(50))
            // Its own context, not the process's: the ZAP handler's inproc endpoint belongs to a context,
            // and a process may run more than one hub.
            context = try Context()
        } catch { throw .transport(error) }
        let bound = Mutex<(String, String?)?>(nil)
        do {
            try loop.start(
                context: context,
                makeState: { [self] owner in
                    let server = try HubServer(hub: self, owner: owner, logger: logger)
                    bound.withLock { $0 = (server.endpoint, server.mediaEndpoint) }
                    return server
                },
                // Timers (request expiry, heartbeats) scan all state: when due, at most every 50 ms, not per message.
                tick: { server, _ in server.tick() },
                tearDown: { [self] _, _ in
                    logger.info("hub stopped")
                    finished.signal()
                })
        } catch let error as ZMQError {
            throw .transport(error)
        } catch {
            throw .refused("\(error)")
        }
        self.loop.withLock { $0 = loop }
        let (endpoint, media) = bound.withLock { $0 }!
        boundMedia.withLock { $0 = media }
        return endpoint
    }

    /// The media endpoint bound, once started (nil without a media plane).
    public var mediaEndpoint: String? { boundMedia.withLock { $0 } }

    /// Stops serving and waits for the hub thread to close its sockets.
    public func stop() {
        guard let loop = loop.withLock({ slot in defer { slot = nil }; return slot }) else { return }
        loop.stop()
        finished.wait()
        finished.signal()   // for wait()
    }

    /// Blocks until the hub stops (by ``stop()`` from another thread or a signal handler).
    public func wait() {
        finished.wait()
        finished.signal()
    }

    static func checkEndpoint(_ configuration: HubConfiguration) throws(HubStartError) {
        if configuration.keys != nil || configuration.insecure { return }
        for endpoint in [configuration.signalingEndpoint, configuration.mediaEndpoint].compactMap({ $0 }) {
            if endpoint.hasPrefix("ipc://") || endpoint.hasPrefix("inproc://") { continue }
            let local = ["tcp://127.", "tcp://localhost:", "tcp://[::1]:"]
            if local.contains(where: endpoint.hasPrefix) { continue }
            throw .refused("refusing to bind \(endpoint) without CURVE keys: use --keys FILE, a loopback/ipc endpoint, or --insecure")
        }
    }

    // MARK: For the server thread

    fileprivate func update(_ body: @Sendable (inout Statistics) -> Void) { stats.withLock { body(&$0) } }
}

/// The hub's thread: its sockets and its state. Made on that thread and never leaves it.
final class HubServer {
    private let hub: Hub
    private let logger: Logger
    private let context: Context
    private let router: Socket
    private let media: Socket?
    private let relay: MediaRelay?
    private let zap: Socket?
    private let zapIdentities: [String: String]
    private let state: HubState
    let endpoint: String
    let mediaEndpoint: String?

    init(hub: Hub, owner: SocketLoopOwner, logger: Logger) throws(ZMQError) {
        self.hub = hub
        self.logger = logger
        let configuration = hub.configuration
        context = owner.context
        // The ZAP handler must be bound before any CURVE socket binds (RFC 27).
        if let keys = configuration.keys {
            let zap = try Socket(context, .rep)
            try zap.setLinger(milliseconds: 0)
            try zap.bind("inproc://zeromq.zap.01")
            self.zap = zap
            zapIdentities = keys.identities
        } else {
            zap = nil
            zapIdentities = [:]
        }
        router = try Socket(context, .router)
        try router.setLinger(milliseconds: 0)
        try router.setRouterMandatory(true)
        try router.setMaxMessageSize(SignalingProtocol.transportMaxMessageBytes)
        // Per peer: a client that stops reading loses its events past this, rather than growing the hub.
        try router.setSendHighWaterMark(5_000)
        try router.setReceiveHighWaterMark(10_000)
        try router.setHeartbeat(intervalMilliseconds: 1000, timeoutMilliseconds: 5000)
        if let keys = configuration.keys { try router.makeCurveServer(keys.server) }
        try router.bind(configuration.signalingEndpoint)
        endpoint = try router.lastEndpoint
        var policy = configuration.policy
        if let keys = configuration.keys { policy.delegations = keys.delegations; policy.gatewaySecrets = keys.gatewaySecrets }
        if let mediaBind = configuration.mediaEndpoint {
            let media = try Socket(context, .router)
            try media.setLinger(milliseconds: 0)
            try media.setRouterMandatory(true)
            try media.setMaxMessageSize(Int64(MediaLimits.maxPacketBytes) + 64 * 1024)
            // Each subscriber's queue: a few seconds of media. Past it, it loses packets, not the others.
            // (High-water marks count messages: with 1 MiB packets at most, a queue stays bounded in bytes too.)
            try media.setSendHighWaterMark(300)
            try media.setReceiveHighWaterMark(1000)
            if let keys = configuration.keys { try media.makeCurveServer(keys.server) }
            try media.bind(mediaBind)
            let bound = try media.lastEndpoint
            self.media = media
            self.mediaEndpoint = bound
            self.relay = MediaRelay(socket: media, logger: logger)
            policy.mediaEndpoint = bound
        } else {
            media = nil
            mediaEndpoint = nil
            relay = nil
        }
        state = HubState(policy: policy, hubVersion: configuration.hubVersion, logger: logger, clock: configuration.clock)
        // In this order when several are ready: authentication first, then signaling, then media.
        if zap != nil { owner.watch(zap!) { [unowned self] _ in serveZAP() } }
        owner.watch(router) { [unowned self] _ in drainRouter(now: hub.configuration.clock.now) }
        if let media { owner.watch(media) { [unowned self] _ in drainMedia(now: hub.configuration.clock.now) } }
        logger.info("hub listening", metadata: ["endpoint": "\(endpoint)", "curve": "\(configuration.keys != nil)"])
    }

    /// The timers, the relay's sweep, the counters; returns how soon they are wanted again.
    func tick() -> Duration {
        let clock = hub.configuration.clock
        let now = clock.now
        state.tick(now: now)
        flush()
        relay?.sweep(state: state)
        publishMediaCounters()
        return min(.milliseconds(50), (state.nextDeadline() ?? now + .milliseconds(250)) - now)
    }

    /// Reads what is queued, a bounded batch at a time so timers still run under load.
    private func drainRouter(now: ContinuousClock.Instant) {
        for _ in 0..<1024 {
            let received: (message: Message, truncated: Bool)?
            do { received = try router.receive(wait: false) } catch {
                logger.error("hub receive: \(error)")
                return
            }
            guard let (message, truncated) = received else { return }
            handle(message, truncated: truncated, now: now)
            flush()
        }
    }

    private func drainMedia(now: ContinuousClock.Instant) {
        guard let media, let relay else { return }
        for _ in 0..<4096 {
            guard let received = try? media.receive(wait: false, maxFrames: 3) else { return }
            relay.handle(received.message, truncated: received.truncated, state: state, now: now)
        }
    }

    private func publishMediaCounters() {
        guard let counters = relay?.counters else { return }
        hub.update {
            $0.mediaPacketsIn = counters.packetsIn
            $0.mediaPacketsOut = counters.packetsOut
            $0.mediaDropped = counters.dropped
            $0.mediaRefused = counters.refused
            $0.keyframeRequests = counters.keyframeRequests
        }
    }

    private func handle(_ message: Message, truncated: Bool, now: ContinuousClock.Instant) {
        hub.update { $0.messagesIn += 1 }
        guard let routingID = message.frames.first else { return }
        let connection = ConnectionID(routingID)
        state.touch(connection, now: now)
        let body = message.frames.dropFirst()
        guard body.count == 1, !truncated, let payload = body.first else {
            hub.update { $0.refused += 1 }
            state.reject(ProtocolError(.multipart, "a message is one frame of JSON; got \(body.count)\(truncated ? "+" : "") frames"), to: connection, re: nil)
            return
        }
        do {
            let envelope = try WireCodec.clientToHub.decode(payload)
            state.handle(envelope, from: connection, authenticatedUser: message.userID, now: now)
        } catch {
            hub.update { $0.refused += 1 }
            state.reject(error, to: connection, re: payload.count <= SignalingProtocol.maxMessageBytes ? WireCodec.peekID(payload) : nil)
        }
    }

    private func flush() {
        let outgoing = state.takeOutbox()
        guard !outgoing.isEmpty else { return }
        var sent = 0
        var dropped = 0
        for (connection, data) in outgoing {
            do {
                try router.send([connection.routingID, data], wait: false)
                sent += 1
            } catch {
                // Gone (EHOSTUNREACH) or too slow (EAGAIN): the hub never blocks on one client.
                dropped += 1
                logger.debug("not delivered", metadata: ["peer": "\(connection)", "error": "\(error)"])
            }
        }
        let (clients, contacts, rooms, sentCount, droppedCount) = (state.connectedClients, state.openContacts, state.activeRooms, sent, dropped)
        hub.update {
            $0.messagesOut += sentCount
            $0.dropped += droppedCount
            $0.connectedClients = clients
            $0.openContacts = contacts
            $0.activeRooms = rooms
        }
    }

    /// ZAP (RFC 27): admits a CURVE client whose key is in the keys file and names it `role:userId`.
    private func serveZAP() {
        guard let zap else { return }   // index 2 was the router again: nothing to do here
        while let (request, _) = try? zap.receive(wait: false) {
            let frames = request.frames
            guard frames.count >= 6 else { continue }
            let version = frames[0], requestID = frames[1]
            let mechanism = String(decoding: frames[5], as: UTF8.self)
            var status = ("400", "unknown key", "")
            if mechanism == "CURVE", frames.count >= 7, frames[6].count == 32 {
                let key = CurveKeyPair.z85(frames[6])
                if let identity = zapIdentities[key] { status = ("200", "OK", identity) }
            }
            if status.0 != "200" { logger.notice("CURVE client refused", metadata: ["mechanism": "\(mechanism)"]) }
            try? zap.send([version, requestID, Data(status.0.utf8), Data(status.1.utf8), Data(status.2.utf8), Data()])
        }
    }
}
