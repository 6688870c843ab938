import AccessToken
import Evidence
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
/// A hub that witnesses recorders' chain checkpoints: its own Ed25519 key, and the log it appends them to.
public struct ChainWitness: Sendable {
    public var key: SigningKey
    public var logPath: String
    public init(key: SigningKey, logPath: String) { self.key = key; self.logPath = logPath }
}

public struct HubPolicy: Sendable {
    /// Recorders' chain checkpoints are cosigned into a witness log (nil: acknowledged, not kept).
    public var witness: ChainWitness?
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
    final class Client {
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
        /// The recorder's machine's busy share (0-1) and its queued composites, as it last said.
        var reportedLoad: Double = 0
        var queuedComposites = 0
        /// Whether this recorder may be given one more room: it records, accepts, and is below its capacity.
        var canTakeRoom: Bool { records && accepting && assignedRooms.count < (hello.capacity ?? .max) }
    }

    struct PendingRequest {
        let event: VideoUpgradeRequested
        let requesterRole: Role
        let deadline: ContinuousClock.Instant
    }

    final class Room {
        let id: String
        let contactID: String
        let useAudio: Bool
        let useVideo: Bool
        let started: RecordRoom
        /// Ordered by arrival; the recorder, once joined, is a member too.
        var members: [Participant] = []
        /// Members whose microphone or camera is off (`setPrivacy`), by participant id.
        var privacy: [String: ParticipantEvent.Privacy] = [:]
        var recorder: ConnectionID?
        /// When the recorder was assigned: one that has not joined in time is replaced.
        var recorderAssigned: ContinuousClock.Instant?
        /// The recorder writing the room now (it said `recordingReport` `recording`).
        var recordingBy: Participant?
        /// Whether any recorder ever wrote it: its end is then told as `stopped`.
        var everRecorded = false
        /// Whether its people were told anything of its recording yet.
        var statusTold = false
        /// Recorders that reported they cannot record this room: it is not given back to them.
        var failedRecorders: Set<String> = []
        /// Recorders assigned so far (each assignment starts a part of the room's recording), and the last one.
        var parts = 0
        var lastRecorder: String?
        /// The room ends when no recorder writes it for longer than the grace.
        var recordingRequired = false
        /// Since when no recorder has been writing (nil while one writes).
        var unrecordedSince: ContinuousClock.Instant?

        init(id: String, contactID: String, started: RecordRoom, now: ContinuousClock.Instant) {
            self.id = id
            self.unrecordedSince = now
            self.contactID = contactID
            self.useAudio = started.useAudio
            self.useVideo = started.useVideo
            self.started = started
        }

        /// The room lives while its customer or agent is in it (a supervisor alone does not keep it).
        var humans: [Participant] { members.filter { $0.role == .customer || $0.role == .agent } }
    }

    final class Contact {
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
        /// Whether a room of this contact ever started (one that is over may be hung up again, harmlessly).
        var hadRoom = false

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
    let logger: Logger
    let hubVersion: String
    var clients: [ConnectionID: Client] = [:]
    /// `role:userId` → connection: one live connection per identity.
    var identities: [String: ConnectionID] = [:]
    var contacts: [String: Contact] = [:]
    var rooms: [String: Room] = [:]
    var requestCounter = 0
    /// Media-plane secrets: token → the room member it admits. Revoked when the member leaves.
    var mediaTokens: [String: MediaAdmission] = [:]

    /// Messages to send, in order; the server drains it after each input.
    var outbox: [(ConnectionID, Data)] = []

    /// Every time the state reads: timers (monotonic) and what people are told (wall clock).
    let clock: any HubClock

    init(policy: HubPolicy, hubVersion: String, logger: Logger, clock: any HubClock = SystemHubClock()) {
        self.clock = clock
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

    func send(_ message: some WireMessage, to connection: ConnectionID?, re: Int? = nil) {
        guard let connection else { return }
        outbox.append((connection, WireCodec.encode(message, re: re)))
    }

    func send(_ message: some WireMessage, toUser role: Role, _ userId: String) {
        send(message, to: identities["\(role.rawValue):\(userId)"])
    }

    /// Both members of a contact, those connected.
    func sendToMembers(_ message: some WireMessage, of contact: Contact) {
        let data = WireCodec.encode(message)
        for key in ["customer:\(contact.customer)", "agent:\(contact.agent)"] {
            if let connection = identities[key] { outbox.append((connection, data)) }
        }
    }

    /// Everyone in a room, recorder included; optionally all but one.
    func sendToRoom(_ message: some WireMessage, _ room: Room, except: Participant? = nil) {
        let data = WireCodec.encode(message)
        for member in room.members where member != except {
            if let connection = identities[member.id] { outbox.append((connection, data)) }
        }
    }

    func delegates(of agent: String) -> [Client] {
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

    func dispatch(_ envelope: Envelope, client: Client, now: ContinuousClock.Instant) throws(ProtocolError) {
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
            if let room = contact.room {
                guard room.members.contains(client.participant) else { throw ProtocolError(.notInRoom, "not in the video room of contact \(contact.id)") }
                send(OK(contactID: contact.id), to: client.connection, re: re)
                leaveRoom(room, client.participant, reason: "left")
            } else if contact.hadRoom {
                // The room is over already (the other member left it): there is nothing to leave, and both
                // sides of a call may hang up at once.
                send(OK(contactID: contact.id), to: client.connection, re: re)
            } else {
                throw ProtocolError(.notInRoom, "contact \(contact.id) has no video room")
            }
        case let change as SetPrivacy:
            guard let room = contacts[change.contactID]?.room, room.members.contains(client.participant), client.role != .recorder else {
                throw ProtocolError(.notInRoom, "not in the video room of contact \(change.contactID)")
            }
            var privacy = room.privacy[client.participant.id] ?? .init(microphone: false, camera: false)
            if let microphone = change.microphone { privacy.microphone = microphone }
            if let camera = change.camera { privacy.camera = camera }
            room.privacy[client.participant.id] = privacy
            send(OK(contactID: change.contactID), to: client.connection, re: re)
            sendToRoom(ParticipantEvent(contactID: room.contactID, roomID: room.id, eventName: "onPrivacyChanged", participant: client.participant,
                                        privacy: privacy), room)
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
        case let checkpoint as ChainCheckpointMessage:
            guard client.role == .recorder else { throw ProtocolError(.forbidden, "only recorders checkpoint their chains") }
            if let witness = policy.witness {
                // Cosigned as received: the witness vouches for when it saw this head, not for the chain itself.
                let record = ChainCheckpoint(keyID: checkpoint.keyID, seq: checkpoint.seq, head: checkpoint.head, time: checkpoint.time,
                                             signature: checkpoint.signature)
                do { try WitnessedCheckpoint.cosign(record, key: witness.key).append(to: witness.logPath) } catch {
                    logger.error("cannot keep a chain checkpoint", metadata: ["recorder": "\(client.participant.id)", "error": "\(error)"])
                    throw ProtocolError(.queueFull, "the witness could not keep this checkpoint")
                }
            }
            send(OK(), to: client.connection, re: re)
        case let recorderState as RecorderState:
            guard client.role == .recorder else { throw ProtocolError(.forbidden, "only recorders say whether they take rooms") }
            client.accepting = recorderState.accepting
            if let load = recorderState.load { client.reportedLoad = load }
            if let queued = recorderState.queuedComposites { client.queuedComposites = queued }
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
    func checkGatewayToken(_ hello: Hello, key: String, gateway: String, secret: TokenSecret) throws(ProtocolError) {
        guard [.customer, .agent, .supervisor].contains(hello.role) else {
            throw ProtocolError(.identityMismatch, "\(gateway) speaks for customers, agents and supervisors only")
        }
        guard let token = hello.token else {
            throw ProtocolError(.identityMismatch, "\(gateway) speaks only for the user a token names: hello needs its token")
        }
        let claims: AccessClaims
        do { claims = try AccessToken.verify(token, secret: secret, now: clock.wallNow) } catch {
            throw ProtocolError(.identityMismatch, "\(gateway): \(error.description)")
        }
        guard claims.role == hello.role.rawValue, claims.user == hello.userId else {
            throw ProtocolError(.identityMismatch, "the token names \(claims.role):\(claims.user), not \(key)")
        }
    }

    func handleHello(_ hello: Hello, from connection: ConnectionID, authenticatedUser: String?, re: Int?, now: ContinuousClock.Instant) throws(ProtocolError) {
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
