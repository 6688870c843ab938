import Foundation
import Logging
import Signaling
import Synchronization
import ZeroMQ

/// Who connects where.
public struct ClientConfiguration: Sendable {
    public var hub: String
    public var hello: Hello
    public var curve: CurveClientKeys?
    /// What this participant publishes when a room starts (`CTLiveMedia.MediaSourceOptions`: a test
    /// picture and tone, or a file); nil publishes nothing (it still receives).
    public var media: (any MediaPublisher)?
    /// Whether to connect to the media relay at all when a room starts.
    public var engagesMedia = true
    /// How long `connect()` and each request wait for the hub's reply.
    public var replyTimeout: Duration = .seconds(5)
    /// How to reconnect to a hub that went away (it restarted, or dropped this client); nil: the
    /// client ends with ``ClientEvent/disconnected(reason:)`` instead.
    public var reconnect: ReconnectPolicy? = ReconnectPolicy()

    public init(hub: String, hello: Hello, curve: CurveClientKeys? = nil) {
        self.hub = hub; self.hello = hello; self.curve = curve
    }
}

/// How a client reconnects: attempts after `firstDelay`, the delay doubling up to `maximumDelay`,
/// each a new connection that says hello again and waits `attemptTimeout` for the welcome.
public struct ReconnectPolicy: Sendable {
    public var firstDelay: Duration = .milliseconds(200)
    /// The longest pause between attempts: a hub that comes back is found within this plus one attempt.
    public var maximumDelay: Duration = .seconds(2)
    public var attemptTimeout: Duration = .seconds(1)

    public init(firstDelay: Duration = .milliseconds(200), maximumDelay: Duration = .seconds(2), attemptTimeout: Duration = .seconds(1)) {
        self.firstDelay = firstDelay
        self.maximumDelay = maximumDelay
        self.attemptTimeout = attemptTimeout
    }
}

/// What can go wrong on the client side.
public enum ClientError: Error, CustomStringConvertible, Sendable {
    /// The hub refused the request; nothing changed there.
    case refused(ProtocolError)
    /// No reply in time: the hub is unreachable, or refused the connection (CURVE).
    case timedOut(String)
    case disconnected(String)
    /// Too many requests queued for the I/O thread.
    case overloaded
    case transport(ZMQError)

    public var description: String {
        switch self {
        case .refused(let error): "hub refused: \(error)"
        case .timedOut(let what): "no reply from the hub \(what)"
        case .disconnected(let reason): "disconnected: \(reason)"
        case .overloaded: "too many requests queued"
        case .transport(let error): "transport: \(error)"
        }
    }
}

/// A connection to a CTLive hub: the SDK's entry point.
///
/// The ZeroMQ socket lives on a thread of the client's own; calls from any thread or task go to it
/// through a bounded queue. Event handlers run on that thread, in order: keep them short (start a
/// `Task` for slow work). ``events`` carries the same events as an `AsyncStream`.
public final class CTLiveClient: Sendable {
    public let configuration: ClientConfiguration
    let logger: Logger
    private let io: ClientIO
    private let state = Mutex(State())
    /// Every event, in order; holds the newest 10,000 when nobody reads it.
    public let events: AsyncStream<ClientEvent>
    private let eventSink: AsyncStream<ClientEvent>.Continuation

    struct State {
        var contacts: [String: Contact] = [:]
        var handlers: [@Sendable (ClientEvent) -> Void] = []
        var participant: Participant?
        /// Media links of this client's active rooms, by room id.
        var links: [String: MediaLink] = [:]
    }

    public init(configuration: ClientConfiguration, logger: Logger = Logger(label: "ctlive.client")) {
        self.configuration = configuration
        self.logger = logger
        (events, eventSink) = AsyncStream.makeStream(of: ClientEvent.self, bufferingPolicy: .bufferingNewest(10_000))
        io = ClientIO(configuration: configuration, logger: logger)
        io.deliver = { [weak self] event in self?.dispatch(event) }
    }

    deinit { io.stop() }

    /// This client in rooms, once connected.
    public var participant: Participant? { state.withLock { $0.participant } }

    /// Connects and says hello. Throws ``ClientError/refused(_:)`` if the hub refuses the identity,
    /// ``ClientError/timedOut(_:)`` if it does not answer.
    @discardableResult
    public func connect() async throws(ClientError) -> Welcome {
        try io.start()
        let reply = try await request(configuration.hello)
        guard let welcome = reply as? Welcome else { throw .disconnected("unexpected reply to hello") }
        io.setHeartbeat(interval: .milliseconds(welcome.heartbeatMs), timeout: .milliseconds(welcome.heartbeatTimeoutMs))
        state.withLock { $0.participant = welcome.participant }
        return welcome
    }

    /// Says goodbye and closes the connection; contacts and rooms end for the others at once.
    public func close() async {
        _ = try? await request(Bye(), timeout: .seconds(1))
        io.stop()
        for roomID in state.withLock({ Array($0.links.keys) }) { endMedia(roomID: roomID) }
    }

    /// Media statistics of an active room's link.
    public func mediaStatistics(roomID: String) -> MediaLink.Statistics? {
        state.withLock { $0.links[roomID] }?.statistics
    }

    /// On a positive answer the room starts, and media with it: "no action is required by the integration".
    private func engageMedia(_ started: RoomStarted) {
        guard configuration.engagesMedia, let endpoint = started.mediaEndpoint, let token = started.mediaToken else { return }
        let roomID = started.roomID
        let link = MediaLink(endpoint: endpoint, token: token, curve: configuration.curve, source: configuration.media,
                             useAudio: started.useAudio, useVideo: started.useVideo, logger: logger,
                             failed: { [weak self] reason in
                                 guard let self, let link = self.state.withLock({ $0.links[roomID] }) else { return }
                                 self.dispatch(.media(MediaStatus(roomID: roomID, state: .failed, statistics: link.statistics, reason: reason)))
                             })
        let previous = state.withLock { state in
            defer { state.links[started.roomID] = link }
            return state.links[started.roomID]
        }
        previous?.stop()
        link.start()
        dispatch(.media(MediaStatus(roomID: started.roomID, state: .engaged, statistics: link.statistics)))
    }

    /// Turns this client's microphone or camera off or on in a room's media (see ``Contact/setMicrophonePrivacy(_:)``).
    func setPrivacy(roomID: String, microphone: Bool?, camera: Bool?) {
        state.withLock { $0.links[roomID] }?.setPrivacy(microphone: microphone, camera: camera)
    }

    /// Stops a room's media link (off the I/O thread: stopping waits for the link's thread).
    func endMedia(roomID: String) {
        guard let link = state.withLock({ $0.links.removeValue(forKey: roomID) }) else { return }
        DispatchQueue.global().async { [weak self] in
            link.stop()
            self?.dispatch(.media(MediaStatus(roomID: roomID, state: .ended, statistics: link.statistics)))
        }
    }

    /// Sends a request and waits for the hub's `ok` (or another reply); an `error` reply throws.
    @discardableResult
    public func request(_ message: some WireMessage, timeout: Duration? = nil) async throws(ClientError) -> any WireMessage {
        let reply = try await io.request(message, timeout: timeout ?? configuration.replyTimeout)
        if let error = reply as? ErrorReply { throw .refused(ProtocolError(error.code, error.message)) }
        return reply
    }

    /// Sends without waiting for the reply; a refusal arrives as an ``ClientEvent/error(_:)`` event.
    public func post(_ message: some WireMessage) throws(ClientError) {
        try io.post(message)
    }

    /// Registers a handler for every event (runs on the client's I/O thread).
    public func onEvent(_ handler: @escaping @Sendable (ClientEvent) -> Void) {
        state.withLock { $0.handlers.append(handler) }
    }

    // MARK: Contacts

    /// A customer opens a chat with a named agent (or a queue's agent) and gets its ``Contact``.
    public func openContact(agent: String? = nil, queue: String? = nil, attributes: [String: String] = [:]) async throws(ClientError) -> Contact {
        let reply = try await request(OpenContact(agent: agent, queue: queue, attributes: attributes.isEmpty ? nil : attributes))
        guard let id = (reply as? OK)?.contactID else { throw .disconnected("unexpected reply to openContact") }
        // contactOpened may arrive before or after the reply; either path makes the Contact.
        return contact(id: id, customer: participant?.userId ?? "", agent: agent ?? "", queue: queue, attributes: attributes)
    }

    /// A supervisor joins the active video room of a contact; its media is engaged as for members.
    public func superviseRoom(contactID: String) async throws(ClientError) {
        try await request(JoinRoom(contactID: contactID))
    }

    /// A supervisor leaves the room of a contact.
    public func leaveRoom(contactID: String, roomID: String?) async throws(ClientError) {
        try await request(VideoDisconnect(contactID: contactID))
        if let roomID { endMedia(roomID: roomID) }
    }

    /// The contacts this client knows, by id.
    public var contacts: [String: Contact] { state.withLock { $0.contacts } }

    private func contact(id: String, customer: String, agent: String, queue: String?, attributes: [String: String]) -> Contact {
        state.withLock { state in
            if let existing = state.contacts[id] { return existing }
            let made = Contact(client: self, id: id, customer: customer, agent: agent, queue: queue, attributes: attributes)
            state.contacts[id] = made
            return made
        }
    }

    /// On the I/O thread: route an event to its contact, the handlers and the stream.
    private func dispatch(_ event: ClientEvent) {
        if case .connectionLost = event {
            // The hub forgets a connection it lost: every room and contact of this client ended. Say so, as the hub would have.
            let me = participant?.id ?? configuration.hello.userId
            for contact in state.withLock({ Array($0.contacts.values) }) {
                if let roomID = contact.roomID {
                    dispatch(.roomEnded(RoomEnded(contactID: contact.id, roomID: roomID, reason: "connection lost")))
                }
                dispatch(.contactClosed(ContactClosed(contactID: contact.id, by: me, reason: "connection lost")))
            }
            for roomID in state.withLock({ Array($0.links.keys) }) { endMedia(roomID: roomID) }
        }
        if case .reconnected(let welcome) = event { state.withLock { $0.participant = welcome.participant } }
        if case .contactOpened(let opened) = event {
            let contact = contact(id: opened.contactID, customer: opened.customer, agent: opened.agent, queue: opened.queue, attributes: opened.attributes)
            contact.update(opened)
        }
        if let id = event.contactID, let contact = state.withLock({ $0.contacts[id] }) {
            contact.deliver(event)
        }
        for handler in state.withLock({ $0.handlers }) { handler(event) }
        eventSink.yield(event)
        switch event {
        case .roomStarted(let started): engageMedia(started)
        case .roomEnded(let ended): endMedia(roomID: ended.roomID)
        case .disconnected: for roomID in state.withLock({ Array($0.links.keys) }) { endMedia(roomID: roomID) }
        default: break
        }
        if case .contactClosed(let closed) = event { _ = state.withLock { $0.contacts.removeValue(forKey: closed.contactID) } }
        if case .disconnected = event { eventSink.finish() }
    }
}
