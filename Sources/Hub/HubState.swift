import AccessToken
import Foundation
import Logging
import Signaling

/// A peer of the hub's ROUTER socket, named by the routing id ZeroMQ gave its connection.
public struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
    public let routingID: Data
    public init(_ routingID: Data) { self.routingID = routingID }
    public var description: String { routingID.map { String(format: "%02x", $0) }.joined() }
}

/// Tunables of the escalation state machine.
public struct HubPolicy: Sendable {
    /// An unanswered upgrade request ends with a refusal (`timeout`) after this.
    public var requestTimeout: Duration = .seconds(30)
    /// How often clients are told to send something.
    public var heartbeatInterval: Duration = .seconds(1)
    /// A client silent this long is taken as dead: it leaves its contacts and rooms.
    public var heartbeatTimeout: Duration = .seconds(3)
    /// Chat lines kept per contact; more are refused.
    public var maxTranscript = 10_000
    /// Bytes of chat text kept per contact; more are refused.
    public var maxTranscriptBytes = 1 << 20
    /// Contacts one customer may have open at once.
    public var maxContactsPerCustomer = 16
    /// A recorder assigned a room that has not joined it after this is replaced.
    public var recorderJoinTimeout: Duration = .seconds(10)
    /// Under CURVE: the agents each recorder identity (`recorder:<id>`) may answer for; nil trusts `hello`.
    public var delegations: [String: Set<String>]?
    /// Under CURVE: gateway identities (`gateway:<name>`) and the secret their browsers' access tokens are signed with.
    public var gatewaySecrets: [String: TokenSecret] = [:]
    /// Where clients send media, announced in `roomStarted` (nil: no media relay).
    public var mediaEndpoint: String?
    /// Every room must be recorded (rooms whose answer says `recordingRequired` must be anyway).
    public var recordingRequired = false
    /// How long a room that must be recorded may go with no recorder writing it: then its members hear
    /// `interrupted` and it ends with reason `recording lost`.
    public var recordingGrace: Duration = .seconds(10)

    public init() {}
}

/// The hub's whole state and the escalation state machine, with no sockets: messages in, messages out.
///
/// Used by one thread only (the hub's). Every input is already decoded and validated by ``WireCodec``;
/// this type authorises it against roles and membership. A refused input changes nothing.
final class HubState {
    private final class Client {
        let connection: ConnectionID
        let hello: Hello
        let participant: Participant
        /// The CURVE identity the connection was admitted with (nil without CURVE).
        let authenticatedUser: String?
        var lastSeen: ContinuousClock.Instant
        var contacts: Set<String> = []
        /// Rooms this recorder was assigned.
        var assignedRooms: Set<String> = []
        /// Rooms this supervisor joined.
        var supervisedRooms: Set<String> = []

        init(connection: ConnectionID, hello: Hello, authenticatedUser: String?, now: ContinuousClock.Instant) {
            self.connection = connection
            self.hello = hello
            self.authenticatedUser = authenticatedUser
            self.participant = Participant(userId: hello.userId, name: hello.name ?? hello.userId, role: hello.role)
            self.lastSeen = now
        }

        var role: Role { hello.role }
        var records: Bool { hello.role == .recorder && hello.records != false }
        /// A recorder that said `recorderState` `accepting: false` gets no new room.
        var accepting = true
        /// Whether this recorder may be given one more room: it records, accepts, and is below its capacity.
        var canTakeRoom: Bool { records && accepting && assignedRooms.count < (hello.capacity ?? .max) }
    }

    private struct PendingRequest {
        let event: VideoUpgradeRequested
        let requesterRole: Role
        let deadline: ContinuousClock.Instant
    }

    private final class Room {
        let id: String
        let contactID: String
        let useAudio: Bool
        let useVideo: Bool
        let started: RecordRoom
        /// Ordered by arrival; the recorder, once joined, is a member too.
        var members: [Participant] = []
        var recorder: ConnectionID?
        /// When the recorder was assigned: one that has not joined in time is replaced.
        var recorderAssigned: ContinuousClock.Instant?
        /// The recorder writing the room now (it said `recordingReport` `recording`).
        var recordingBy: Participant?
        /// Whether any recorder ever wrote it: its end is then told as `stopped`.
        var everRecorded = false
        /// Recorders that reported they cannot record this room: it is not given back to them.
        var failedRecorders: Set<String> = []
        /// Recorders assigned so far (each assignment starts a part of the room's recording), and the last one.
        var parts = 0
        var lastRecorder: String?
        /// The room ends when no recorder writes it for longer than the grace.
        var recordingRequired = false
        /// Since when no recorder has been writing (nil while one writes).
        var unrecordedSince: ContinuousClock.Instant? = .now

        init(id: String, contactID: String, started: RecordRoom) {
            self.id = id
            self.contactID = contactID
            self.useAudio = started.useAudio
            self.useVideo = started.useVideo
            self.started = started
        }

        /// The room lives while its customer or agent is in it (a supervisor alone does not keep it).
        var humans: [Participant] { members.filter { $0.role == .customer || $0.role == .agent } }
    }

    private final class Contact {
        let id: String
        let customer: String
        let agent: String
        let queue: String?
        let attributes: [String: String]
        let opened: Date
        var transcript: [ChatEvent] = []
        var transcriptBytes = 0
        var pending: PendingRequest?
        var room: Room?

        init(id: String, customer: String, agent: String, queue: String?, attributes: [String: String], opened: Date) {
            self.id = id; self.customer = customer; self.agent = agent; self.queue = queue
            self.attributes = attributes; self.opened = opened
        }

        func isMember(_ participant: Participant) -> Bool {
            (participant.role == .customer && participant.userId == customer)
                || (participant.role == .agent && participant.userId == agent)
        }

        var openedMessage: ContactOpened {
            ContactOpened(contactID: id, customer: customer, agent: agent, queue: queue, attributes: attributes)
        }
    }

    let policy: HubPolicy
    private let logger: Logger
    private let hubVersion: String
    private var clients: [ConnectionID: Client] = [:]
    /// `role:userId` → connection: one live connection per identity.
    private var identities: [String: ConnectionID] = [:]
    private var contacts: [String: Contact] = [:]
    private var rooms: [String: Room] = [:]
    private var requestCounter = 0
    /// Media-plane secrets: token → the room member it admits. Revoked when the member leaves.
    private var mediaTokens: [String: MediaAdmission] = [:]

    /// Messages to send, in order; the server drains it after each input.
    private(set) var outbox: [(ConnectionID, Data)] = []

    init(policy: HubPolicy, hubVersion: String, logger: Logger) {
        self.policy = policy
        self.hubVersion = hubVersion
        self.logger = logger
    }

    func takeOutbox() -> [(ConnectionID, Data)] {
        defer { outbox.removeAll(keepingCapacity: true) }
        return outbox
    }

    var connectedClients: Int { clients.count }
    var openContacts: Int { contacts.count }
    var activeRooms: Int { rooms.count }

    // MARK: Output

    private func send(_ message: some WireMessage, to connection: ConnectionID?, re: Int? = nil) {
        guard let connection else { return }
        outbox.append((connection, WireCodec.encode(message, re: re)))
    }

    private func send(_ message: some WireMessage, toUser role: Role, _ userId: String) {
        send(message, to: identities["\(role.rawValue):\(userId)"])
    }

    /// Both members of a contact, those connected.
    private func sendToMembers(_ message: some WireMessage, of contact: Contact) {
        let data = WireCodec.encode(message)
        for key in ["customer:\(contact.customer)", "agent:\(contact.agent)"] {
            if let connection = identities[key] { outbox.append((connection, data)) }
        }
    }

    /// Everyone in a room, recorder included; optionally all but one.
    private func sendToRoom(_ message: some WireMessage, _ room: Room, except: Participant? = nil) {
        let data = WireCodec.encode(message)
        for member in room.members where member != except {
            if let connection = identities[member.id] { outbox.append((connection, data)) }
        }
    }

    private func delegates(of agent: String) -> [Client] {
        clients.values.filter { $0.role == .recorder && ($0.hello.delegateFor ?? []).contains(agent) }
    }

    func reject(_ error: ProtocolError, to connection: ConnectionID, re: Int?) {
        logger.debug("refused", metadata: ["peer": "\(connection)", "code": "\(error.code.rawValue)", "reason": "\(error.message)"])
        send(ErrorReply(error), to: connection, re: re)
    }

    // MARK: Input

    /// Handles one decoded message. `authenticatedUser` is the ZAP `User-Id` (`role:userId`) under CURVE.
    func handle(_ envelope: Envelope, from connection: ConnectionID, authenticatedUser: String?, now: ContinuousClock.Instant) {
        do throws(ProtocolError) {
            if let hello = envelope.message as? Hello {
                try handleHello(hello, from: connection, authenticatedUser: authenticatedUser, re: envelope.id, now: now)
                return
            }
            guard let client = clients[connection] else {
                throw ProtocolError(.helloRequired, "say hello first")
            }
            // A routing id could be reused by another authenticated peer: every message must come with the same key.
            guard client.authenticatedUser == authenticatedUser else {
                drop(connection, reason: "connection lost")
                throw ProtocolError(.identityMismatch, "this connection's key changed")
            }
            client.lastSeen = now
            try dispatch(envelope, client: client, now: now)
        } catch {
            reject(error, to: connection, re: envelope.id)
        }
    }

    /// Any traffic, even refused, shows the peer is alive.
    func touch(_ connection: ConnectionID, now: ContinuousClock.Instant) {
        clients[connection]?.lastSeen = now
    }

    private func dispatch(_ envelope: Envelope, client: Client, now: ContinuousClock.Instant) throws(ProtocolError) {
        let re = envelope.id
        switch envelope.message {
        case is Ping:
            send(Pong(), to: client.connection, re: re)
        case is Bye:
            send(OK(), to: client.connection, re: re)
            drop(client.connection, reason: "left")
        case let open as OpenContact:
            let contact = try openContact(open, by: client)
            send(OK(contactID: contact.id), to: client.connection, re: re)
            sendToMembers(contact.openedMessage, of: contact)
        case let chat as SendChat:
            try self.chat(chat, by: client)
            send(OK(contactID: chat.contactID), to: client.connection, re: re)
        case let request as RequestVideoUpgrade:
            try requestUpgrade(request, by: client, re: re, now: now)
        case let answer as ResponseVideoUpgrade:
            try respond(answer, by: client, re: re)
        case let leave as VideoDisconnect where client.role == .supervisor:
            guard let room = contacts[leave.contactID]?.room, room.members.contains(client.participant) else {
                throw ProtocolError(.notInRoom, "not in the video room of contact \(leave.contactID)")
            }
            send(OK(contactID: leave.contactID), to: client.connection, re: re)
            client.supervisedRooms.remove(room.id)
            leaveRoom(room, client.participant, reason: "left")
        case let leave as VideoDisconnect:
            let contact = try memberContact(leave.contactID, client)
            guard let room = contact.room, room.members.contains(client.participant) else {
                throw ProtocolError(.notInRoom, "not in the video room of contact \(contact.id)")
            }
            send(OK(contactID: contact.id), to: client.connection, re: re)
            leaveRoom(room, client.participant, reason: "left")
        case let leave as LeaveContact:
            let contact = try memberContact(leave.contactID, client)
            send(OK(contactID: contact.id), to: client.connection, re: re)
            close(contact, by: client.participant, reason: "left")
        case let join as JoinRoom:
            let contactID = try joinRoom(join, by: client)
            send(OK(contactID: contactID), to: client.connection, re: re)
        case let ranking as SpeakerRanking:
            try rank(ranking, by: client)
        case let report as RecordingReport:
            try recordingReport(report, by: client)
            send(OK(), to: client.connection, re: re)
        case let recorderState as RecorderState:
            guard client.role == .recorder else { throw ProtocolError(.forbidden, "only recorders say whether they take rooms") }
            client.accepting = recorderState.accepting
            logger.notice("recorder state", metadata: ["recorder": "\(client.participant.id)", "accepting": "\(recorderState.accepting)",
                                                       "reason": "\(recorderState.reason ?? "")"])
            send(OK(), to: client.connection, re: re)
            if recorderState.accepting { assignWaitingRooms() }
        default:
            throw ProtocolError(.unknownType, "\(type(of: envelope.message).type) is not a client message")
        }
    }

    // MARK: hello

    /// A gateway's connection speaks for the one customer, agent or supervisor its browser's token names.
    private func checkGatewayToken(_ hello: Hello, key: String, gateway: String, secret: TokenSecret) throws(ProtocolError) {
        guard [.customer, .agent, .supervisor].contains(hello.role) else {
            throw ProtocolError(.identityMismatch, "\(gateway) speaks for customers, agents and supervisors only")
        }
        guard let token = hello.token else {
            throw ProtocolError(.identityMismatch, "\(gateway) speaks only for the user a token names: hello needs its token")
        }
        let claims: AccessClaims
        do { claims = try AccessToken.verify(token, secret: secret, now: Date()) } catch {
            throw ProtocolError(.identityMismatch, "\(gateway): \(error.description)")
        }
        guard claims.role == hello.role.rawValue, claims.user == hello.userId else {
            throw ProtocolError(.identityMismatch, "the token names \(claims.role):\(claims.user), not \(key)")
        }
    }

    private func handleHello(_ hello: Hello, from connection: ConnectionID, authenticatedUser: String?, re: Int?, now: ContinuousClock.Instant) throws(ProtocolError) {
        if clients[connection] != nil { throw ProtocolError(.alreadyHello, "this connection already said hello") }
        let key = "\(hello.role.rawValue):\(hello.userId)"
        if let authenticatedUser, let secret = policy.gatewaySecrets[authenticatedUser] {
            try checkGatewayToken(hello, key: key, gateway: authenticatedUser, secret: secret)
        } else if let authenticatedUser, authenticatedUser != key {
            throw ProtocolError(.identityMismatch, "this key belongs to \(authenticatedUser), not \(key)")
        }
        if identities[key] != nil { throw ProtocolError(.idInUse, "\(key) is already connected") }
        if hello.role == .recorder, let delegations = policy.delegations, let claimed = hello.delegateFor {
            let allowed = delegations[key] ?? []
            if let stranger = claimed.first(where: { !allowed.contains($0) }) {
                throw ProtocolError(.forbidden, "\(key) may not answer for agent \(stranger) (keys file delegateFor)")
            }
        }
        let client = Client(connection: connection, hello: hello, authenticatedUser: authenticatedUser, now: now)
        clients[connection] = client
        identities[key] = connection
        logger.info("hello", metadata: ["peer": "\(connection)", "participant": "\(key)"])
        send(Welcome(participant: client.participant, heartbeatMs: Self.milliseconds(policy.heartbeatInterval),
                     heartbeatTimeoutMs: Self.milliseconds(policy.heartbeatTimeout), hubVersion: hubVersion),
             to: connection, re: re)
        // A member that (re)connects learns the contacts it is part of, and any request waiting for it.
        for contact in contacts.values where contact.isMember(client.participant) {
            client.contacts.insert(contact.id)
            send(contact.openedMessage, to: connection)
            if let pending = contact.pending, pending.requesterRole != hello.role {
                send(pending.event, to: connection)
            }
        }
        if client.records { assignWaitingRooms() }
    }

    // MARK: Contacts and chat

    private func openContact(_ open: OpenContact, by client: Client) throws(ProtocolError) -> Contact {
        guard client.role == .customer else { throw ProtocolError(.forbidden, "only customers open contacts") }
        guard client.contacts.count < policy.maxContactsPerCustomer else {
            throw ProtocolError(.queueFull, "\(client.participant.id) has \(policy.maxContactsPerCustomer) contacts open already")
        }
        let agent: String
        if let named = open.agent {
            agent = named
        } else {
            let queue = open.queue!
            let serving = clients.values.filter { $0.role == .agent && ($0.hello.queues ?? []).contains(queue) }
            guard let chosen = serving.min(by: { ($0.contacts.count, $0.hello.userId) < ($1.contacts.count, $1.hello.userId) }) else {
                throw ProtocolError(.noAgentAvailable, "no agent serving queue \(queue) is connected")
            }
            agent = chosen.hello.userId
        }
        let contact = Contact(id: Self.newID("ct"), customer: client.hello.userId, agent: agent, queue: open.queue,
                              attributes: open.attributes ?? [:], opened: Date())
        contacts[contact.id] = contact
        client.contacts.insert(contact.id)
        if let agentConnection = identities["agent:\(agent)"] { clients[agentConnection]?.contacts.insert(contact.id) }
        logger.info("contact opened", metadata: ["contact": "\(contact.id)", "customer": "\(contact.customer)", "agent": "\(agent)"])
        return contact
    }

    /// The contact, if the client is one of its two members.
    private func memberContact(_ id: String, _ client: Client) throws(ProtocolError) -> Contact {
        guard let contact = contacts[id] else { throw ProtocolError(.unknownContact, "no open contact \(id)") }
        guard contact.isMember(client.participant) else { throw ProtocolError(.notMember, "not a member of contact \(id)") }
        return contact
    }

    private func chat(_ chat: SendChat, by client: Client) throws(ProtocolError) {
        let contact = try memberContact(chat.contactID, client)
        guard contact.transcript.count < policy.maxTranscript, contact.transcriptBytes + chat.text.utf8.count <= policy.maxTranscriptBytes else {
            throw ProtocolError(.queueFull, "contact \(contact.id)'s transcript is full (\(policy.maxTranscript) lines or \(policy.maxTranscriptBytes) bytes)")
        }
        let event = ChatEvent(contactID: contact.id, from: client.participant.id, text: chat.text,
                              seq: contact.transcript.count + 1, at: Int64(Date().timeIntervalSince1970 * 1000))
        contact.transcript.append(event)
        contact.transcriptBytes += chat.text.utf8.count
        sendToMembers(event, of: contact)
        if let room = contact.room, let recorder = room.recorder { send(event, to: recorder) }
    }

    /// Ends a contact: its request is cancelled, its room ends, the other member is told.
    private func close(_ contact: Contact, by participant: Participant, reason: String) {
        if let pending = contact.pending {
            contact.pending = nil
            let why = pending.event.from == participant ? "requester \(reason)" : "contact closed: \(participant.id) \(reason)"
            let cancelled = VideoUpgradeCancelled(contactID: contact.id, requestID: pending.event.requestID, reason: why)
            sendToMembers(cancelled, of: contact)
            // Delegates were told of customers' requests only.
            if pending.requesterRole == .customer {
                for delegate in delegates(of: contact.agent) { send(cancelled, to: delegate.connection) }
            }
        }
        if let room = contact.room {
            if room.members.contains(participant) { leaveRoom(room, participant, reason: reason) }
            if contact.room != nil { endRoom(room, reason: "contact closed") }
        }
        let closed = ContactClosed(contactID: contact.id, by: participant.id, reason: reason)
        sendToMembers(closed, of: contact)
        for key in ["customer:\(contact.customer)", "agent:\(contact.agent)"] {
            if let connection = identities[key] { clients[connection]?.contacts.remove(contact.id) }
        }
        contacts[contact.id] = nil
        logger.info("contact closed", metadata: ["contact": "\(contact.id)", "by": "\(participant.id)", "reason": "\(reason)"])
    }

    // MARK: Escalation

    private func requestUpgrade(_ request: RequestVideoUpgrade, by client: Client, re: Int?, now: ContinuousClock.Instant) throws(ProtocolError) {
        let contact = try memberContact(request.contactID, client)
        if contact.room != nil { throw ProtocolError(.roomActive, "contact \(contact.id) already has a video room") }
        if contact.pending != nil { throw ProtocolError(.requestPending, "a request is already pending on contact \(contact.id)") }
        requestCounter += 1
        let event = VideoUpgradeRequested(
            contactID: contact.id, requestID: "rq\(requestCounter)", from: client.participant, divID: request.divID,
            useAudio: request.useAudio, useVideo: request.useVideo, expiresInMs: Self.milliseconds(policy.requestTimeout))
        contact.pending = PendingRequest(event: event, requesterRole: client.role, deadline: now + policy.requestTimeout)
        send(OK(contactID: contact.id), to: client.connection, re: re)
        let answerer: Role = client.role == .customer ? .agent : .customer
        send(event, toUser: answerer, answerer == .agent ? contact.agent : contact.customer)
        if client.role == .customer {
            var withFacts = event
            withFacts.facts = facts(for: contact, now: Date())
            for delegate in delegates(of: contact.agent) { send(withFacts, to: delegate.connection) }
        }
        logger.info("upgrade requested", metadata: ["contact": "\(contact.id)", "request": "\(event.requestID)", "by": "\(client.participant.id)"])
    }

    private func facts(for contact: Contact, now: Date) -> DecisionFacts {
        let agentKey = "agent:\(contact.agent)"
        let active = contacts.values.filter { $0.agent == contact.agent && $0.room != nil }.count
        // Recorders that could take this room now: a room no recorder can take counts as none idle.
        let idle = clients.values.filter(\.canTakeRoom).count
        return DecisionFacts(
            customer: contact.customer, agent: contact.agent, queue: contact.queue, attributes: contact.attributes,
            agentConnected: identities[agentKey] != nil, agentActiveVideoSessions: active, idleRecorders: idle,
            chatMessages: contact.transcript.count, chatDurationSeconds: now.timeIntervalSince(contact.opened))
    }

    private func respond(_ answer: ResponseVideoUpgrade, by client: Client, re: Int?) throws(ProtocolError) {
        guard let contact = contacts[answer.contactID] else { throw ProtocolError(.unknownContact, "no open contact \(answer.contactID)") }
        let by: String
        let automatic: Bool
        if client.role == .recorder {
            guard let agent = answer.onBehalfOf, agent == contact.agent, (client.hello.delegateFor ?? []).contains(agent) else {
                throw ProtocolError(.forbidden, "not a delegate of the agent of contact \(contact.id)")
            }
            guard let pending = contact.pending else { throw ProtocolError(.noPendingRequest, "no request is pending on contact \(contact.id)") }
            guard pending.requesterRole == .customer else { throw ProtocolError(.forbidden, "a delegate answers only customers' requests") }
            by = "policy:\(client.hello.userId)"
            automatic = true
        } else {
            guard contact.isMember(client.participant) else { throw ProtocolError(.notMember, "not a member of contact \(contact.id)") }
            guard let pending = contact.pending else { throw ProtocolError(.noPendingRequest, "no request is pending on contact \(contact.id)") }
            guard pending.requesterRole != client.role else {
                throw ProtocolError(.forbidden, "the answer must come from the member who did not ask")
            }
            by = client.participant.id
            automatic = false
        }
        if let requestID = answer.requestID, requestID != contact.pending?.event.requestID {
            throw ProtocolError(.noPendingRequest, "request \(requestID) is no longer pending on contact \(contact.id)")
        }
        send(OK(contactID: contact.id), to: client.connection, re: re)
        settle(contact, response: answer.response, divID: answer.divID, by: by, reason: answer.reason, automatic: automatic,
               recordingRequired: answer.recordingRequired == true)
    }

    /// Ends the pending request with an answer; a positive one starts the room.
    private func settle(_ contact: Contact, response: Bool, divID: String, by: String, reason: String?, automatic: Bool,
                        recordingRequired: Bool = false) {
        guard let pending = contact.pending else { return }
        contact.pending = nil
        let answered = VideoUpgradeAnswered(contactID: contact.id, requestID: pending.event.requestID, response: response,
                                            divID: divID, by: by, reason: reason, automatic: automatic)
        sendToMembers(answered, of: contact)
        if pending.requesterRole == .customer {
            // Every delegate learns the outcome, the one that answered included (its copy confirms the answer took effect).
            for delegate in delegates(of: contact.agent) { send(answered, to: delegate.connection) }
        }
        logger.info("upgrade answered", metadata: ["contact": "\(contact.id)", "response": "\(response)", "by": "\(by)", "reason": "\(reason ?? "")"])
        if response { startRoom(contact, request: pending.event, answer: answered, recordingRequired: recordingRequired || policy.recordingRequired) }
    }

    /// Called often by the server: expires requests and drops silent clients.
    func tick(now: ContinuousClock.Instant) {
        for contact in contacts.values {
            if let pending = contact.pending, pending.deadline <= now {
                settle(contact, response: false, divID: pending.event.divID, by: "hub", reason: "timeout", automatic: true)
            }
        }
        for room in rooms.values {
            guard let recorder = room.recorder, let assigned = room.recorderAssigned, now - assigned > policy.recorderJoinTimeout,
                  let client = clients[recorder], !room.members.contains(client.participant) else { continue }
            logger.warning("recorder did not join; assigning another", metadata: ["room": "\(room.id)", "recorder": "\(client.participant.id)"])
            unassignRecorder(room, client)
            tellRecordingStatus(room, .interrupted, recorder: client.participant, reason: "recorder \(client.participant.id) did not join")
            assignRecorder(room, excluding: client.connection)
        }
        // A room that must be recorded and has had no recorder writing it for the grace ends.
        for room in rooms.values where room.recordingRequired {
            guard let since = room.unrecordedSince, now - since > policy.recordingGrace else { continue }
            let seconds = Self.milliseconds(now - since) / 1000
            logger.warning("recording required but lost: ending the room", metadata: ["room": "\(room.id)", "seconds": "\(seconds)"])
            tellRecordingStatus(room, .interrupted, recorder: nil, reason: "no recorder has written this room for \(seconds) s; recording is required")
            endRoom(room, reason: "recording lost")
        }
        for client in clients.values where now - client.lastSeen > policy.heartbeatTimeout {
            logger.notice("heartbeat lost", metadata: ["participant": "\(client.participant.id)"])
            drop(client.connection, reason: "connection lost")
        }
    }

    /// When the next ``tick(now:)`` has work: the earliest request deadline or heartbeat expiry.
    func nextDeadline() -> ContinuousClock.Instant? {
        let requests = contacts.values.compactMap { $0.pending?.deadline }
        let heartbeats = clients.values.map { $0.lastSeen + policy.heartbeatTimeout }
        let graces = rooms.values.compactMap { room in room.recordingRequired ? room.unrecordedSince.map { $0 + policy.recordingGrace } : nil }
        return (requests + heartbeats + graces).min()
    }

    /// A client goes away (bye or dead): it leaves every contact and room.
    func drop(_ connection: ConnectionID, reason: String) {
        guard let client = clients.removeValue(forKey: connection) else { return }
        identities[client.participant.id] = nil
        for id in client.contacts {
            if let contact = contacts[id] { close(contact, by: client.participant, reason: reason) }
        }
        for id in client.supervisedRooms {
            if let room = rooms[id], room.members.contains(client.participant) { leaveRoom(room, client.participant, reason: reason) }
        }
        for id in client.assignedRooms {
            guard let room = rooms[id] else { continue }
            let joined = room.members.contains(client.participant)
            let wasRecording = room.recordingBy == client.participant
            unassignRecorder(room, client)
            if joined { leaveRoom(room, client.participant, reason: reason) }
            guard rooms[id] != nil else { continue }
            // Lost while writing, or before it wrote anything: either way the room is not being recorded now.
            if wasRecording || room.recordingBy == nil {
                tellRecordingStatus(room, .interrupted, recorder: client.participant, reason: "recorder \(client.participant.id) lost: \(reason)")
            }
            assignRecorder(room)
        }
    }

    // MARK: Rooms

    private func startRoom(_ contact: Contact, request: VideoUpgradeRequested, answer: VideoUpgradeAnswered, recordingRequired: Bool) {
        let roomID = Self.newID("rm")
        let started = RecordRoom(contactID: contact.id, roomID: roomID, useAudio: request.useAudio, useVideo: request.useVideo,
                                 mediaEndpoint: policy.mediaEndpoint, request: request, answer: answer,
                                 transcript: Array(contact.transcript.suffix(RecordRoom.transcriptLines)))
        let room = Room(id: roomID, contactID: contact.id, started: started)
        room.recordingRequired = recordingRequired
        contact.room = room
        rooms[roomID] = room
        for key in ["customer:\(contact.customer)", "agent:\(contact.agent)"] {
            guard let connection = identities[key], let client = clients[connection] else { continue }
            send(RoomStarted(contactID: contact.id, roomID: roomID, useAudio: request.useAudio, useVideo: request.useVideo,
                             mediaEndpoint: policy.mediaEndpoint, mediaToken: issueMediaToken(room, client),
                             recordingRequired: recordingRequired ? true : nil), to: connection)
            join(room, client.participant)
        }
        assignRecorder(room)
        if room.recorder == nil { tellRecordingStatus(room, .stopped, recorder: nil, reason: "no recorder available") }
    }

    /// A participant joins: the others learn of it, it learns of them, and everyone gets the new order.
    private func join(_ room: Room, _ participant: Participant) {
        for member in room.members {
            send(ParticipantEvent(contactID: room.contactID, roomID: room.id, eventName: "onJoined", participant: member), toUser: participant.role, participant.userId)
        }
        room.members.append(participant)
        sendToRoom(ParticipantEvent(contactID: room.contactID, roomID: room.id, eventName: "onJoined", participant: participant), room, except: participant)
        sendToRoom(ParticipantEvent(contactID: room.contactID, roomID: room.id, eventName: "onDynamicChanged", participants: room.members), room)
    }

    private func leaveRoom(_ room: Room, _ participant: Participant, reason: String) {
        room.members.removeAll { $0 == participant }
        revokeMediaTokens { $0.roomID == room.id && $0.participant == participant }
        sendToRoom(ParticipantEvent(contactID: room.contactID, roomID: room.id, eventName: "onLeft", participant: participant), room)
        if room.humans.isEmpty {
            endRoom(room, reason: "no participant left")
        } else {
            sendToRoom(ParticipantEvent(contactID: room.contactID, roomID: room.id, eventName: "onDynamicChanged", participants: room.members), room)
        }
    }

    private func endRoom(_ room: Room, reason: String) {
        if room.everRecorded { tellRecordingStatus(room, .stopped, recorder: room.recordingBy, reason: reason) }
        let ended = RoomEnded(contactID: room.contactID, roomID: room.id, reason: reason)
        if let contact = contacts[room.contactID] {
            contact.room = nil
            sendToMembers(ended, of: contact)
        }
        if let recorder = room.recorder {
            send(ended, to: recorder)
            clients[recorder]?.assignedRooms.remove(room.id)
        }
        for member in room.members where member.role == .supervisor {
            if let connection = identities[member.id], let client = clients[connection] {
                client.supervisedRooms.remove(room.id)
                send(ended, to: connection)
            }
        }
        rooms[room.id] = nil
        revokeMediaTokens { $0.roomID == room.id }
        logger.info("room ended", metadata: ["room": "\(room.id)", "reason": "\(reason)"])
        assignWaitingRooms()
    }

    private func unassignRecorder(_ room: Room, _ recorder: Client) {
        room.recorder = nil
        room.recorderAssigned = nil
        if room.recordingBy == recorder.participant {
            room.recordingBy = nil
            room.unrecordedSince = .now
        }
        recorder.assignedRooms.remove(room.id)
        revokeMediaTokens { $0.roomID == room.id && $0.participant == recorder.participant }
    }

    /// The least loaded recording client records the room; with none, it waits for one.
    private func assignRecorder(_ room: Room, excluding excluded: ConnectionID? = nil) {
        guard room.recorder == nil else { return }
        let recorders = clients.values.filter {
            $0.canTakeRoom && $0.connection != excluded && !room.failedRecorders.contains($0.participant.id)
        }
        // The least loaded, as a share of its capacity (then the fewest rooms, then the lowest id).
        func load(_ client: Client) -> Double { Double(client.assignedRooms.count) / Double(client.hello.capacity ?? 1_000_000) }
        guard let chosen = recorders.min(by: {
            (load($0), $0.assignedRooms.count, $0.hello.userId) < (load($1), $1.assignedRooms.count, $1.hello.userId)
        }) else {
            logger.notice("no recorder can take the room", metadata: ["room": "\(room.id)"])
            return
        }
        room.recorder = chosen.connection
        room.recorderAssigned = .now
        chosen.assignedRooms.insert(room.id)
        var assignment = room.started
        assignment.mediaToken = issueMediaToken(room, chosen)
        room.parts += 1
        assignment.part = room.parts
        assignment.previousRecorder = room.lastRecorder
        room.lastRecorder = chosen.participant.id
        send(assignment, to: chosen.connection)
    }

    private func assignWaitingRooms() {
        for room in rooms.values where room.recorder == nil { assignRecorder(room) }
    }

    /// Returns the room's contact.
    @discardableResult
    private func joinRoom(_ join: JoinRoom, by client: Client) throws(ProtocolError) -> String {
        let found = join.roomID.flatMap { rooms[$0] } ?? join.contactID.flatMap { contacts[$0]?.room }
        guard let room = found else { throw ProtocolError(.notInRoom, "no active room \(join.roomID ?? "of contact \(join.contactID ?? "")")") }
        guard !room.members.contains(client.participant) else { return room.contactID }
        switch client.role {
        case .recorder where room.recorder == client.connection:
            self.join(room, client.participant)
        case .supervisor:
            client.supervisedRooms.insert(room.id)
            send(RoomStarted(contactID: room.contactID, roomID: room.id, useAudio: room.useAudio, useVideo: room.useVideo,
                             mediaEndpoint: policy.mediaEndpoint, mediaToken: issueMediaToken(room, client)), to: client.connection)
            self.join(room, client.participant)
        default:
            throw ProtocolError(.forbidden, "only supervisors, and the recorder assigned, join rooms")
        }
        return room.contactID
    }

    // MARK: Recording status

    /// The room's recorder reports: it writes (members hear `recording`), or it cannot record the room
    /// any more (members hear `interrupted`; the room goes to another recorder, never back to this one).
    private func recordingReport(_ report: RecordingReport, by client: Client) throws(ProtocolError) {
        guard let room = rooms[report.roomID], room.recorder == client.connection else {
            throw ProtocolError(.forbidden, "only the room's recorder reports on its recording")
        }
        switch report.status {
        case .recording:
            guard room.recordingBy != client.participant else { return }
            room.recordingBy = client.participant
            room.everRecorded = true
            room.unrecordedSince = nil
            tellRecordingStatus(room, .recording, recorder: client.participant, reason: report.reason)
        case .failed:
            let why = report.reason ?? "the recorder failed"
            logger.warning("recorder cannot record", metadata: ["room": "\(room.id)", "recorder": "\(client.participant.id)", "reason": "\(why)"])
            room.failedRecorders.insert(client.participant.id)
            let joined = room.members.contains(client.participant)
            unassignRecorder(room, client)
            if joined { leaveRoom(room, client.participant, reason: "recording failed") }
            guard rooms[room.id] != nil else { return }
            tellRecordingStatus(room, .interrupted, recorder: client.participant, reason: why)
            assignRecorder(room)
        }
    }

    /// `recordingStatus` to the room's people: its members but recorders, and the contact's two members wherever they are.
    private func tellRecordingStatus(_ room: Room, _ status: RecordingStatus.Status, recorder: Participant?, reason: String?) {
        let message = WireCodec.encode(RecordingStatus(contactID: room.contactID, roomID: room.id, status: status, recorder: recorder?.id, reason: reason))
        var told: Set<ConnectionID> = []
        var keys = room.members.filter { $0.role != .recorder }.map(\.id)
        if let contact = contacts[room.contactID] { keys += ["customer:\(contact.customer)", "agent:\(contact.agent)"] }
        for key in keys {
            guard let connection = identities[key], told.insert(connection).inserted else { continue }
            outbox.append((connection, message))
        }
        logger.info("recording status", metadata: ["room": "\(room.id)", "status": "\(status.rawValue)", "reason": "\(reason ?? "")"])
    }

    private func rank(_ ranking: SpeakerRanking, by client: Client) throws(ProtocolError) {
        guard let room = rooms[ranking.roomID], room.recorder == client.connection else {
            throw ProtocolError(.forbidden, "only the room's recorder ranks speakers")
        }
        let ordered = ranking.ranking.compactMap { id in room.members.first { $0.id == id } }
        guard !ordered.isEmpty else { throw ProtocolError(.invalidField, "ranking names no member of room \(room.id)") }
        sendToRoom(ParticipantEvent(contactID: room.contactID, roomID: room.id, eventName: "onDynamicChanged", participants: ordered), room)
        if ranking.loudestChanged {
            sendToRoom(ParticipantEvent(contactID: room.contactID, roomID: room.id, eventName: "onLoudestChanged", participant: ordered[0]), room)
        }
    }

    // MARK: Media plane

    /// A new media token for `client` in `room`, bound to the client's CURVE key when it has one.
    private func issueMediaToken(_ room: Room, _ client: Client) -> String {
        var generator = SystemRandomNumberGenerator()
        let token = (0..<4).map { _ in String(generator.next() & 0xffff_ffff_ffff, radix: 36) }.joined(separator: "-")
        mediaTokens[token] = MediaAdmission(roomID: room.id, participant: client.participant, issuedTo: client.authenticatedUser)
        return token
    }

    private func revokeMediaTokens(where predicate: (MediaAdmission) -> Bool) {
        mediaTokens = mediaTokens.filter { !predicate($0.value) }
    }

    /// The room member a media token admits, while the member is still in the room.
    func mediaAdmission(token: String) -> MediaAdmission? {
        mediaTokens[token]
    }

    /// Whether a participant still holds a media token for a room (admitted, maybe not yet joined).
    func mediaAdmission(forRoom roomID: String, participantID: String) -> Bool {
        mediaTokens.values.contains { $0.roomID == roomID && $0.participant.id == participantID }
    }

    /// Whether a participant is (still) a member of a room: media is relayed only between members.
    func isMember(roomID: String, participantID: String) -> Bool {
        rooms[roomID]?.members.contains { $0.id == participantID } ?? false
    }

    // MARK: Helpers

    static func milliseconds(_ duration: Duration) -> Int {
        Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }

    /// A random id: contact and room ids are not guessable, though membership, not secrecy, protects them.
    static func newID(_ prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        return prefix + "-" + String(generator.next() & 0xffff_ffff_ffff, radix: 36)
    }
}

/// Whom a media token admits: a room member, and under CURVE only the key it was issued to.
struct MediaAdmission {
    let roomID: String
    let participant: Participant
    /// The ZAP `User-Id` (`role:userId`) of the signaling connection the token was issued to; nil without CURVE.
    let issuedTo: String?
}
