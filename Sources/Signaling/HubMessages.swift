/// Messages the hub sends to clients. Replies carry `re`, the `id` of the message they answer (envelope).

/// The answer to a good `hello`.
public struct Welcome: WireMessage {
    public static let type = "welcome"
    /// The participant id the client has in rooms (`role:userId`).
    public var participant: Participant
    /// How often the client must send something (a `ping` will do).
    public var heartbeatMs: Int
    /// A client silent for this long is dropped.
    public var heartbeatTimeoutMs: Int
    public var hubVersion: String

    public init(participant: Participant, heartbeatMs: Int, heartbeatTimeoutMs: Int, hubVersion: String) {
        self.participant = participant; self.heartbeatMs = heartbeatMs; self.heartbeatTimeoutMs = heartbeatTimeoutMs; self.hubVersion = hubVersion
    }
}

/// A request was carried out. `contactID` when it created or named a contact.
public struct OK: WireMessage {
    public static let type = "ok"
    public var contactID: String?
    public init(contactID: String? = nil) { self.contactID = contactID }
}

/// A request was refused; nothing changed.
public struct ErrorReply: WireMessage {
    public static let type = "error"
    public var code: ErrorCode
    public var message: String
    public init(_ error: ProtocolError) { code = error.code; message = error.message }
}

public struct Pong: WireMessage {
    public static let type = "pong"
    public init() {}
}

/// A contact the client is a member of (or a delegate for) was opened, or the client (re)connected.
public struct ContactOpened: WireMessage {
    public static let type = "contactOpened"
    public var contactID: String
    public var customer: String
    public var agent: String
    public var queue: String?
    public var attributes: [String: String]

    public init(contactID: String, customer: String, agent: String, queue: String?, attributes: [String: String]) {
        self.contactID = contactID; self.customer = customer; self.agent = agent; self.queue = queue; self.attributes = attributes
    }
}

/// A member left the contact (or its connection died); the contact is over.
public struct ContactClosed: WireMessage {
    public static let type = "contactClosed"
    public var contactID: String
    public var by: String
    public var reason: String
    public init(contactID: String, by: String, reason: String) { self.contactID = contactID; self.by = by; self.reason = reason }
}

/// A chat line, sent to both members (and the room's recorder).
public struct ChatEvent: WireMessage {
    public static let type = "chat"
    public var contactID: String
    public var from: String
    public var text: String
    /// Position in the contact's transcript, from 1.
    public var seq: Int
    /// Milliseconds since 1970 when the hub took it.
    public var at: Int64

    public init(contactID: String, from: String, text: String, seq: Int, at: Int64) {
        self.contactID = contactID; self.from = from; self.text = text; self.seq = seq; self.at = at
    }
}

/// What a policy delegate needs to decide; sent to delegates only.
public struct DecisionFacts: Codable, Sendable, Equatable {
    public var customer: String
    public var agent: String
    public var queue: String?
    public var attributes: [String: String]
    public var agentConnected: Bool
    public var agentActiveVideoSessions: Int
    public var idleRecorders: Int
    public var chatMessages: Int
    public var chatDurationSeconds: Double

    public init(customer: String, agent: String, queue: String?, attributes: [String: String], agentConnected: Bool,
                agentActiveVideoSessions: Int, idleRecorders: Int, chatMessages: Int, chatDurationSeconds: Double) {
        self.customer = customer; self.agent = agent; self.queue = queue; self.attributes = attributes
        self.agentConnected = agentConnected; self.agentActiveVideoSessions = agentActiveVideoSessions
        self.idleRecorders = idleRecorders; self.chatMessages = chatMessages; self.chatDurationSeconds = chatDurationSeconds
    }
}

/// The event `requestVideoUpgrade`: the other member asked to escalate.
public struct VideoUpgradeRequested: WireMessage {
    public static let type = "requestVideoUpgrade"
    public var contactID: String
    public var requestID: String
    /// The participant who asked.
    public var from: Participant
    public var divID: String
    public var useAudio: Bool
    public var useVideo: Bool
    /// Unanswered after this, the request ends with `responseVideoUpgrade` `response: false`, reason `timeout`.
    public var expiresInMs: Int
    /// Present only for policy delegates.
    public var facts: DecisionFacts?

    public init(contactID: String, requestID: String, from: Participant, divID: String, useAudio: Bool, useVideo: Bool, expiresInMs: Int, facts: DecisionFacts? = nil) {
        self.contactID = contactID; self.requestID = requestID; self.from = from; self.divID = divID
        self.useAudio = useAudio; self.useVideo = useVideo; self.expiresInMs = expiresInMs; self.facts = facts
    }
}

/// The event `responseVideoUpgrade`: the answer, to both members. `response` is the CTLive field.
public struct VideoUpgradeAnswered: WireMessage {
    public static let type = "responseVideoUpgrade"
    public var contactID: String
    public var requestID: String
    public var response: Bool
    public var divID: String
    /// Who answered: a participant id, `policy:<delegate>` for a delegate, or `hub` for a timeout.
    public var by: String
    /// `timeout`, a policy's reason, or the answerer's own words; nil for a plain human answer.
    public var reason: String?
    /// True when a policy delegate answered for the agent.
    public var automatic: Bool

    public init(contactID: String, requestID: String, response: Bool, divID: String, by: String, reason: String?, automatic: Bool) {
        self.contactID = contactID; self.requestID = requestID; self.response = response; self.divID = divID
        self.by = by; self.reason = reason; self.automatic = automatic
    }
}

/// A pending request ended without an answer because its requester left.
public struct VideoUpgradeCancelled: WireMessage {
    public static let type = "requestVideoUpgradeCancelled"
    public var contactID: String
    public var requestID: String
    public var reason: String
    public init(contactID: String, requestID: String, reason: String) { self.contactID = contactID; self.requestID = requestID; self.reason = reason }
}

/// The contact's video room started: media is engaged automatically by the SDK.
public struct RoomStarted: WireMessage {
    public static let type = "roomStarted"
    public var contactID: String
    public var roomID: String
    public var useAudio: Bool
    public var useVideo: Bool
    /// Where media goes (the hub's media endpoint), if the hub relays media.
    public var mediaEndpoint: String?
    /// This member's secret for `mediaHello` on the media endpoint.
    public var mediaToken: String?
    /// `true` when the room must be recorded: it ends (`recording lost`) when no recorder writes it for the hub's grace.
    public var recordingRequired: Bool?

    public init(contactID: String, roomID: String, useAudio: Bool, useVideo: Bool, mediaEndpoint: String?, mediaToken: String? = nil,
                recordingRequired: Bool? = nil) {
        self.contactID = contactID; self.roomID = roomID; self.useAudio = useAudio; self.useVideo = useVideo
        self.mediaEndpoint = mediaEndpoint; self.mediaToken = mediaToken; self.recordingRequired = recordingRequired
    }
}

/// The room ended (no human member left, or its contact closed).
public struct RoomEnded: WireMessage {
    public static let type = "roomEnded"
    public var contactID: String
    public var roomID: String
    public var reason: String
    public init(contactID: String, roomID: String, reason: String) { self.contactID = contactID; self.roomID = roomID; self.reason = reason }
}

/// Sent to the one recorder the hub chose for a room: join it and record.
public struct RecordRoom: WireMessage {
    public static let type = "recordRoom"
    public var contactID: String
    public var roomID: String
    public var useAudio: Bool
    public var useVideo: Bool
    public var mediaEndpoint: String?
    /// The recorder's secret for `mediaHello` on the media endpoint.
    public var mediaToken: String?
    /// The escalation that started the room, for the recording's timeline.
    public var request: VideoUpgradeRequested
    public var answer: VideoUpgradeAnswered
    /// The chat that led to the escalation: its last ``RecordRoom/transcriptLines`` lines.
    public var transcript: [ChatEvent]?
    /// Which recording of the room this is: 1 for the first recorder, 2 after a takeover, and so on.
    public var part: Int?
    /// The recorder of the part before this one (`recorder:R1`), after a takeover.
    public var previousRecorder: String?

    /// Chat lines carried in `recordRoom` (10 of at most 4 KiB each stay under the message limit).
    public static let transcriptLines = 10

    public init(contactID: String, roomID: String, useAudio: Bool, useVideo: Bool, mediaEndpoint: String?, request: VideoUpgradeRequested,
                answer: VideoUpgradeAnswered, transcript: [ChatEvent]? = nil) {
        self.contactID = contactID; self.roomID = roomID; self.useAudio = useAudio; self.useVideo = useVideo
        self.mediaEndpoint = mediaEndpoint; self.request = request; self.answer = answer; self.transcript = transcript
    }
}

/// A participant event of a video room (`bindVideoParticipantEvent`).
public struct ParticipantEvent: WireMessage {
    public static let type = "participant"
    public var contactID: String
    public var roomID: String
    /// `onJoined`, `onLeft`, `onLoudestChanged`, `onPrivacyChanged` (one participant) or `onDynamicChanged` (an ordered list).
    public var eventName: String
    public var participant: Participant?
    public var participants: [Participant]?
    /// With `onPrivacyChanged`: the participant's microphone and camera, `true` when off.
    public var privacy: Privacy?

    public struct Privacy: Codable, Sendable, Equatable {
        public var microphone: Bool
        public var camera: Bool
        public init(microphone: Bool, camera: Bool) {
            self.microphone = microphone
            self.camera = camera
        }
    }

    public init(contactID: String, roomID: String, eventName: String, participant: Participant? = nil, participants: [Participant]? = nil,
                privacy: Privacy? = nil) {
        self.contactID = contactID; self.roomID = roomID; self.eventName = eventName; self.participant = participant; self.participants = participants
        self.privacy = privacy
    }
}

/// Whether a room is being recorded, told to its members (compliance recording needs consent, and
/// a session must be recorded or visibly not).
///
/// `recording`: a recorder is writing (again). `interrupted`: recording stopped while the room goes
/// on (the recorder was lost or failed); another may take over. `stopped`: no recording any more, at
/// the room's end or because no recorder is available.
public struct RecordingStatus: WireMessage {
    public static let type = "recordingStatus"
    public enum Status: String, Codable, Sendable { case recording, interrupted, stopped }
    public var contactID: String
    public var roomID: String
    public var status: Status
    /// The recorder's participant id (`recorder:R1`), when one is involved.
    public var recorder: String?
    public var reason: String?

    public init(contactID: String, roomID: String, status: Status, recorder: String? = nil, reason: String? = nil) {
        self.contactID = contactID; self.roomID = roomID; self.status = status; self.recorder = recorder; self.reason = reason
    }
}
