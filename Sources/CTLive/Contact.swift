import Signaling
import Synchronization

/// A chat contact, with the CTLive page's calls and events.
///
/// ```swift
/// let contact = try await customer.openContact(agent: "A1")
/// contact.on("responseVideoUpgrade") { event in print("answer:", event.response!) }
/// contact.bindVideoParticipantEvent { event, eventName, participant in print(eventName, participant) }
/// try await contact.requestVideoUpgrade(divID: "videoPanel", useAudio: true, useVideo: true)
/// ```
/// Handlers run on the client's I/O thread, in order.
public final class Contact: Sendable {
    public let id: String
    private weak let client: CTLiveClient?
    private let state: Mutex<State>

    struct State {
        var customer: String
        var agent: String
        var queue: String?
        var attributes: [String: String]
        var handlers: [String: [@Sendable (ClientEvent) -> Void]] = [:]
        var participantHandlers: [@Sendable (ParticipantEvent, String, ParticipantPayload) -> Void] = []
        var roomID: String?
        var pendingRequest: VideoUpgradeRequested?
    }

    init(client: CTLiveClient, id: String, customer: String, agent: String, queue: String?, attributes: [String: String]) {
        self.client = client
        self.id = id
        self.state = Mutex(State(customer: customer, agent: agent, queue: queue, attributes: attributes))
    }

    public var customer: String { state.withLock { $0.customer } }
    public var agent: String { state.withLock { $0.agent } }
    public var queue: String? { state.withLock { $0.queue } }
    public var attributes: [String: String] { state.withLock { $0.attributes } }
    /// The active video room, if any.
    public var roomID: String? { state.withLock { $0.roomID } }
    /// The request waiting for this side's answer, if any.
    public var pendingRequest: VideoUpgradeRequested? { state.withLock { $0.pendingRequest } }

    private func connectedClient() throws(ClientError) -> CTLiveClient {
        guard let client else { throw .disconnected("the client was released") }
        return client
    }

    // MARK: Calls

    /// `contact.requestVideoUpgrade(divID, useAudio, useVideo)`: asks the other side to escalate.
    public func requestVideoUpgrade(divID: String, useAudio: Bool, useVideo: Bool) async throws(ClientError) {
        try await connectedClient().request(RequestVideoUpgrade(contactID: id, divID: divID, useAudio: useAudio, useVideo: useVideo))
    }

    /// `contact.responseVideoUpgrade(accept, divID)`: answers the pending request.
    public func responseVideoUpgrade(_ accept: Bool, divID: String) async throws(ClientError) {
        try await connectedClient().request(ResponseVideoUpgrade(contactID: id, response: accept, divID: divID, requestID: pendingRequest?.requestID))
    }

    /// Leaves the video room; a new video session needs a new request.
    public func videoDisconnectAndDestruct() async throws(ClientError) {
        let client = try connectedClient()
        try await client.request(VideoDisconnect(contactID: id))
        if let roomID { client.endMedia(roomID: roomID) }
    }

    /// The CTLive page's own spelling.
    @available(*, deprecated, renamed: "videoDisconnectAndDestruct()")
    public func videoDisconnecAndDestruct() async throws(ClientError) {
        try await videoDisconnectAndDestruct()
    }

    /// Turns this member's microphone off (`true`) or on in the video room (Vidyo's privacy): nothing
    /// of it is sent while off, and the others hear `onPrivacyChanged` (the recording's timeline says so too).
    public func setMicrophonePrivacy(_ off: Bool) async throws(ClientError) {
        try await setPrivacy(SetPrivacy(contactID: id, microphone: off))
    }

    /// Turns this member's camera off (`true`) or on in the video room; on again, it starts at a keyframe.
    public func setCameraPrivacy(_ off: Bool) async throws(ClientError) {
        try await setPrivacy(SetPrivacy(contactID: id, camera: off))
    }

    private func setPrivacy(_ change: SetPrivacy) async throws(ClientError) {
        let client = try connectedClient()
        if let roomID { client.setPrivacy(roomID: roomID, microphone: change.microphone, camera: change.camera) }
        try await client.request(change)
    }

    /// Sends a chat line.
    public func sendChat(_ text: String) async throws(ClientError) {
        try await connectedClient().request(SendChat(contactID: id, text: text))
    }

    /// Leaves the contact (the chat ends for both).
    public func leave() async throws(ClientError) {
        try await connectedClient().request(LeaveContact(contactID: id))
    }

    // MARK: Events

    /// `contact.on(name, handler)`: `requestVideoUpgrade`, `responseVideoUpgrade` (see ``ClientEvent/response``),
    /// `chat`, `roomStarted`, `roomEnded`, `contactClosed`, `requestVideoUpgradeCancelled`, `participant`.
    public func on(_ eventName: String, _ handler: @escaping @Sendable (ClientEvent) -> Void) {
        state.withLock { $0.handlers[eventName, default: []].append(handler) }
    }

    /// `contact.bindVideoParticipantEvent(fn(event, eventName, participant))`.
    public func bindVideoParticipantEvent(_ handler: @escaping @Sendable (_ event: ParticipantEvent, _ eventName: String, _ participant: ParticipantPayload) -> Void) {
        state.withLock { $0.participantHandlers.append(handler) }
    }

    func update(_ opened: ContactOpened) {
        state.withLock {
            $0.customer = opened.customer
            $0.agent = opened.agent
            $0.queue = opened.queue
            $0.attributes = opened.attributes
        }
    }

    func deliver(_ event: ClientEvent) {
        let (handlers, participantHandlers) = state.withLock { state in
            switch event {
            case .requestVideoUpgrade(let request): state.pendingRequest = request
            case .responseVideoUpgrade, .requestCancelled: state.pendingRequest = nil
            case .roomStarted(let started): state.roomID = started.roomID
            case .roomEnded: state.roomID = nil
            default: break
            }
            return (state.handlers[event.name] ?? [], state.participantHandlers)
        }
        for handler in handlers { handler(event) }
        if case .participant(let participantEvent) = event {
            let payload: ParticipantPayload = participantEvent.participants.map { .ranked($0) } ?? participantEvent.participant.map { .one($0) } ?? .ranked([])
            for handler in participantHandlers { handler(participantEvent, participantEvent.eventName, payload) }
        }
    }
}

/// The `participant` argument of a participant event: one participant, or an ordered list (`onDynamicChanged`).
public enum ParticipantPayload: Sendable, Equatable {
    case one(Participant)
    case ranked([Participant])

    public var participants: [Participant] {
        switch self {
        case .one(let participant): [participant]
        case .ranked(let list): list
        }
    }
}
