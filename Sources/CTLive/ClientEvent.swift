import Signaling

/// Everything a client hears from the hub, typed.
public enum ClientEvent: Sendable {
    case contactOpened(ContactOpened)
    case contactClosed(ContactClosed)
    case chat(ChatEvent)
    /// The other member asked to escalate (CTLive event `requestVideoUpgrade`).
    case requestVideoUpgrade(VideoUpgradeRequested)
    /// The answer (CTLive event `responseVideoUpgrade`, with `response`).
    case responseVideoUpgrade(VideoUpgradeAnswered)
    case requestCancelled(VideoUpgradeCancelled)
    /// The room started; media is engaged automatically.
    case roomStarted(RoomStarted)
    case roomEnded(RoomEnded)
    /// `onJoined`, `onLeft`, `onDynamicChanged`, `onLoudestChanged`.
    case participant(ParticipantEvent)
    /// Recorders: the hub chose this client to record a room.
    case recordRoom(RecordRoom)
    /// The hub refused something this client sent without waiting for the reply.
    case error(ErrorReply)
    /// Whether the room is being recorded (CTLive event `recordingStatus`).
    case recordingStatus(RecordingStatus)
    /// The connection to the hub is gone for good (closed, or lost with reconnection off).
    case disconnected(reason: String)
    /// The connection to the hub was lost; the client is reconnecting. Its contacts and rooms ended
    /// (each got `contactClosed` or `roomEnded` first): a hub forgets a connection it lost.
    case connectionLost(reason: String)
    /// The client is connected again (a new hello was welcomed), with no contact or room yet.
    case reconnected(Welcome)
    /// This client's media for a room was engaged (publishing and receiving) or ended.
    case media(MediaStatus)

    /// The CTLive event name: what `Contact.on(_:_:)` registers for.
    public var name: String {
        switch self {
        case .contactOpened: "contactOpened"
        case .contactClosed: "contactClosed"
        case .chat: "chat"
        case .requestVideoUpgrade: "requestVideoUpgrade"
        case .responseVideoUpgrade: "responseVideoUpgrade"
        case .requestCancelled: "requestVideoUpgradeCancelled"
        case .roomStarted: "roomStarted"
        case .roomEnded: "roomEnded"
        case .participant: "participant"
        case .recordRoom: "recordRoom"
        case .error: "error"
        case .recordingStatus: "recordingStatus"
        case .disconnected: "disconnected"
        case .connectionLost: "connectionLost"
        case .reconnected: "reconnected"
        case .media: "media"
        }
    }

    /// The contact the event concerns, if any.
    public var contactID: String? {
        switch self {
        case .contactOpened(let e): e.contactID
        case .contactClosed(let e): e.contactID
        case .chat(let e): e.contactID
        case .requestVideoUpgrade(let e): e.contactID
        case .responseVideoUpgrade(let e): e.contactID
        case .requestCancelled(let e): e.contactID
        case .roomStarted(let e): e.contactID
        case .roomEnded(let e): e.contactID
        case .participant(let e): e.contactID
        case .recordRoom(let e): e.contactID
        case .recordingStatus(let e): e.contactID
        case .error, .disconnected, .connectionLost, .reconnected, .media: nil
        }
    }

    /// `event.response` of the CTLive page: the answer of a `responseVideoUpgrade` event.
    public var response: Bool? {
        if case .responseVideoUpgrade(let answer) = self { return answer.response }
        return nil
    }

    /// The wire message behind the event (nil for `disconnected`).
    public var message: (any WireMessage)? {
        switch self {
        case .contactOpened(let e): e
        case .contactClosed(let e): e
        case .chat(let e): e
        case .requestVideoUpgrade(let e): e
        case .responseVideoUpgrade(let e): e
        case .requestCancelled(let e): e
        case .roomStarted(let e): e
        case .roomEnded(let e): e
        case .participant(let e): e
        case .recordRoom(let e): e
        case .error(let e): e
        case .recordingStatus(let e): e
        case .reconnected(let e): e
        case .disconnected, .connectionLost, .media: nil
        }
    }

    init?(_ message: any WireMessage) {
        switch message {
        case let m as ContactOpened: self = .contactOpened(m)
        case let m as ContactClosed: self = .contactClosed(m)
        case let m as ChatEvent: self = .chat(m)
        case let m as VideoUpgradeRequested: self = .requestVideoUpgrade(m)
        case let m as VideoUpgradeAnswered: self = .responseVideoUpgrade(m)
        case let m as VideoUpgradeCancelled: self = .requestCancelled(m)
        case let m as RoomStarted: self = .roomStarted(m)
        case let m as RoomEnded: self = .roomEnded(m)
        case let m as ParticipantEvent: self = .participant(m)
        case let m as RecordRoom: self = .recordRoom(m)
        case let m as ErrorReply: self = .error(m)
        case let m as RecordingStatus: self = .recordingStatus(m)
        default: return nil
        }
    }
}

/// The state of a room's media on this client.
public struct MediaStatus: Sendable {
    /// `failed`: the link ended by itself (see ``reason``): no media goes to or comes from this room.
    public enum State: String, Sendable { case engaged, ended, failed }
    public var roomID: String
    public var state: State
    public var statistics: MediaLink.Statistics
    public var reason: String?

    public init(roomID: String, state: State, statistics: MediaLink.Statistics, reason: String? = nil) {
        self.roomID = roomID; self.state = state; self.statistics = statistics; self.reason = reason
    }
}
