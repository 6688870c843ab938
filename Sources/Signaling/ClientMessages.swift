/// Messages a client sends to the hub. Each checks its own fields in `validate()`.

/// First message of every connection: who the client is.
public struct Hello: WireMessage {
    public static let type = "hello"
    public var role: Role
    /// The client's user id (customer, agent or recorder id). Not the envelope's `id`.
    public var userId: String
    public var name: String?
    /// Agents: the queues this agent serves.
    public var queues: [String]?
    /// Recorders: agents this client answers upgrade requests for (policy delegate).
    public var delegateFor: [String]?
    /// Recorders: whether this client records rooms (a pure policy bot says false).
    public var records: Bool?
    /// Recorders: how many rooms it records at once at most (the hub never assigns more); nil: no limit.
    public var capacity: Int?
    /// Through a gateway (`ctlive web`): the signed access token that names this role and user id. A
    /// CURVE hub checks it when the connection's key is a gateway's; others ignore it.
    public var token: String?

    public init(role: Role, userId: String, name: String? = nil, queues: [String]? = nil, delegateFor: [String]? = nil, records: Bool? = nil,
                capacity: Int? = nil, token: String? = nil) {
        self.role = role; self.userId = userId; self.name = name; self.queues = queues; self.delegateFor = delegateFor; self.records = records
        self.capacity = capacity; self.token = token
    }

    public func validate() throws(ProtocolError) {
        try Check.id(userId, "userId")
        try Check.text(name ?? "", "name", max: SignalingProtocol.maxIDLength)
        try Check.list(queues, "queues")
        try Check.list(delegateFor, "delegateFor")
        try Check.text(token ?? "", "token", max: 4096)
        if role != .agent && queues != nil { throw ProtocolError(.invalidField, "only agents serve queues") }
        if role != .recorder && delegateFor != nil { throw ProtocolError(.invalidField, "only recorders answer for agents") }
        if let capacity, role != .recorder || !(1...10_000).contains(capacity) {
            throw ProtocolError(.invalidField, "capacity is a recorder's, from 1 to 10000")
        }
    }
}

/// Keeps the connection alive; the hub answers `pong`.
public struct Ping: WireMessage {
    public static let type = "ping"
    public init() {}
}

/// The client leaves: every contact, room and pending request it has ends as if its connection died.
public struct Bye: WireMessage {
    public static let type = "bye"
    public init() {}
}

/// A customer opens a chat contact with a named agent or a queue (exactly one of the two).
public struct OpenContact: WireMessage {
    public static let type = "openContact"
    public var agent: String?
    public var queue: String?
    public var attributes: [String: String]?

    public init(agent: String? = nil, queue: String? = nil, attributes: [String: String]? = nil) {
        self.agent = agent; self.queue = queue; self.attributes = attributes
    }

    public func validate() throws(ProtocolError) {
        guard (agent == nil) != (queue == nil) else { throw ProtocolError(.invalidField, "give exactly one of agent or queue") }
        try Check.optionalID(agent, "agent")
        try Check.optionalID(queue, "queue")
        try Check.attributes(attributes)
    }
}

/// A chat line in a contact.
public struct SendChat: WireMessage {
    public static let type = "chat"
    public var contactID: String
    public var text: String

    public init(contactID: String, text: String) { self.contactID = contactID; self.text = text }

    public func validate() throws(ProtocolError) {
        try Check.id(contactID, "contactID")
        try Check.text(text, "text", max: SignalingProtocol.maxTextLength, allowEmpty: false)
    }
}

/// `contact.requestVideoUpgrade(divID, useAudio, useVideo)`.
public struct RequestVideoUpgrade: WireMessage {
    public static let type = "requestVideoUpgrade"
    public var contactID: String
    public var divID: String
    public var useAudio: Bool
    public var useVideo: Bool

    public init(contactID: String, divID: String, useAudio: Bool, useVideo: Bool) {
        self.contactID = contactID; self.divID = divID; self.useAudio = useAudio; self.useVideo = useVideo
    }

    public func validate() throws(ProtocolError) {
        try Check.id(contactID, "contactID")
        try Check.text(divID, "divID", max: SignalingProtocol.maxIDLength)
        if !useAudio && !useVideo { throw ProtocolError(.invalidField, "useAudio and useVideo are both false") }
    }
}

/// `contact.responseVideoUpgrade(accept, divID)`; a policy delegate also names the agent it answers for.
public struct ResponseVideoUpgrade: WireMessage {
    public static let type = "responseVideoUpgrade"
    public var contactID: String
    public var response: Bool
    public var divID: String
    /// Delegates only: the agent this answer is given for.
    public var onBehalfOf: String?
    /// Why (shown to both sides; a policy's reason).
    public var reason: String?
    /// The request answered (from the `requestVideoUpgrade` event): a late answer then cannot settle a newer request.
    public var requestID: String?
    /// `true`: the room this answer starts must be recorded (it ends when no recorder writes it for the hub's grace).
    public var recordingRequired: Bool?

    public init(contactID: String, response: Bool, divID: String, onBehalfOf: String? = nil, reason: String? = nil, requestID: String? = nil,
                recordingRequired: Bool? = nil) {
        self.contactID = contactID; self.response = response; self.divID = divID; self.onBehalfOf = onBehalfOf; self.reason = reason
        self.requestID = requestID; self.recordingRequired = recordingRequired
    }

    public func validate() throws(ProtocolError) {
        try Check.id(contactID, "contactID")
        try Check.text(divID, "divID", max: SignalingProtocol.maxIDLength)
        try Check.optionalID(onBehalfOf, "onBehalfOf")
        try Check.optionalID(requestID, "requestID")
        try Check.text(reason ?? "", "reason", max: SignalingProtocol.maxTextLength)
    }
}

/// Leaves the contact's video room (`videoDisconnecAndDestruct` on the CTLive page).
public struct VideoDisconnect: WireMessage {
    public static let type = "videoDisconnectAndDestruct"
    public var contactID: String

    public init(contactID: String) { self.contactID = contactID }

    public func validate() throws(ProtocolError) { try Check.id(contactID, "contactID") }
}

/// A room member's privacy: its microphone or camera off (Vidyo's privacy). The others hear
/// `onPrivacyChanged`, and the recorder writes it into the recording's timeline.
public struct SetPrivacy: WireMessage {
    public static let type = "setPrivacy"
    public var contactID: String
    /// True: the microphone is off (muted). Nil leaves it as it was.
    public var microphone: Bool?
    /// True: the camera is off. Nil leaves it as it was.
    public var camera: Bool?

    public init(contactID: String, microphone: Bool? = nil, camera: Bool? = nil) {
        self.contactID = contactID
        self.microphone = microphone
        self.camera = camera
    }

    public func validate() throws(ProtocolError) {
        try Check.id(contactID, "contactID")
        if microphone == nil && camera == nil { throw ProtocolError(.invalidField, "setPrivacy needs microphone or camera") }
    }
}

/// Leaves a contact altogether (ends the chat for this member).
public struct LeaveContact: WireMessage {
    public static let type = "leaveContact"
    public var contactID: String

    public init(contactID: String) { self.contactID = contactID }

    public func validate() throws(ProtocolError) { try Check.id(contactID, "contactID") }
}

/// A recorder joins the room it was assigned (`recordRoom`), by `roomID`; a supervisor joins the
/// active room of a contact, by `contactID` (or `roomID`).
public struct JoinRoom: WireMessage {
    public static let type = "joinRoom"
    public var roomID: String?
    public var contactID: String?

    public init(roomID: String) { self.roomID = roomID }
    public init(contactID: String) { self.contactID = contactID }

    public func validate() throws(ProtocolError) {
        guard (roomID == nil) != (contactID == nil) else { throw ProtocolError(.invalidField, "give exactly one of roomID or contactID") }
        try Check.optionalID(roomID, "roomID")
        try Check.optionalID(contactID, "contactID")
    }
}

/// A recorder's active-speaker result for a room it records: the hub turns it into
/// `onLoudestChanged` / `onDynamicChanged` for the room's members.
public struct SpeakerRanking: WireMessage {
    public static let type = "speakerRanking"
    public var roomID: String
    /// Participant ids (`role:userId`), loudest first.
    public var ranking: [String]
    public var loudestChanged: Bool

    public init(roomID: String, ranking: [String], loudestChanged: Bool) {
        self.roomID = roomID; self.ranking = ranking; self.loudestChanged = loudestChanged
    }

    public func validate() throws(ProtocolError) {
        try Check.id(roomID, "roomID")
        try Check.list(ranking, "ranking")
    }
}

/// A recorder tells the hub how recording one of its rooms goes: `recording` once it writes,
/// `failed` (with the cause: a full disk, a worker it cannot restart) when it cannot record it any
/// more. The hub tells the room's members (`recordingStatus`) and, after `failed`, gives the room to
/// another recorder.
public struct RecordingReport: WireMessage {
    public static let type = "recordingReport"
    public enum Status: String, Codable, Sendable { case recording, failed }
    public var roomID: String
    public var status: Status
    public var reason: String?

    public init(roomID: String, status: Status, reason: String? = nil) {
        self.roomID = roomID; self.status = status; self.reason = reason
    }

    public func validate() throws(ProtocolError) {
        try Check.id(roomID, "roomID")
        if let reason { try Check.text(reason, "reason", max: 1024) }
    }
}

/// A recorder says whether it takes new rooms: `accepting: false` (with the cause: its disk is full)
/// keeps the hub from assigning it any until it says `true` again. Rooms it records go on.
public struct RecorderState: WireMessage {
    public static let type = "recorderState"
    public var accepting: Bool
    public var reason: String?
    /// How busy the recorder's machine is, 0 (idle) to 1 (every core busy): the hub gives rooms by headroom.
    public var load: Double?
    /// Composites waiting for the recorder to render them.
    public var queuedComposites: Int?

    public init(accepting: Bool, reason: String? = nil, load: Double? = nil, queuedComposites: Int? = nil) {
        self.accepting = accepting
        self.reason = reason
        self.load = load
        self.queuedComposites = queuedComposites
    }

    public func validate() throws(ProtocolError) {
        if let reason { try Check.text(reason, "reason", max: 1024) }
        if let load, !(load.isFinite && (0...1).contains(load)) { throw ProtocolError(.invalidField, "load must be between 0 and 1") }
        if let queuedComposites, !(0...1_000_000).contains(queuedComposites) {
            throw ProtocolError(.invalidField, "queuedComposites must be between 0 and 1000000")
        }
    }
}

/// Recorder → hub: the head of the recorder's evidence chain, signed with its key (docs/EVIDENCE.md,
/// *Checkpoints*). A hub run as a witness (`--witness-key`) cosigns it into its witness log; `ok` either way.
public struct ChainCheckpointMessage: WireMessage {
    public static let type = "chainCheckpoint"
    public var keyID: String
    public var seq: Int
    public var head: String
    public var time: String
    public var signature: String

    public init(keyID: String, seq: Int, head: String, time: String, signature: String) {
        self.keyID = keyID; self.seq = seq; self.head = head; self.time = time; self.signature = signature
    }

    public func validate() throws(ProtocolError) {
        let hex = { (text: String, count: Int) in text.utf8.count == count && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) } }
        guard hex(keyID, 16) else { throw ProtocolError(.invalidField, "keyID must be 16 lower-case hex digits") }
        guard hex(head, 64) else { throw ProtocolError(.invalidField, "head must be 64 lower-case hex digits") }
        guard seq >= 1 else { throw ProtocolError(.invalidField, "seq must be 1 or more") }
        try Check.text(time, "time", max: 64, allowEmpty: false)
        try Check.text(signature, "signature", max: 128, allowEmpty: false)
    }
}
