import AccessToken
import Foundation
import Logging
import Signaling

/// The escalation state machine: a request, its answer (a member or a delegate), its expiry.
extension HubState {
    func requestUpgrade(_ request: RequestVideoUpgrade, by client: Client, re: Int?, now: ContinuousClock.Instant) throws(ProtocolError) {
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
            withFacts.facts = facts(for: contact, now: clock.wallNow)
            for delegate in delegates(of: contact.agent) { send(withFacts, to: delegate.connection) }
        }
        logger.info("upgrade requested", metadata: ["contact": "\(contact.id)", "request": "\(event.requestID)", "by": "\(client.participant.id)"])
    }

    func facts(for contact: Contact, now: Date) -> DecisionFacts {
        let agentKey = "agent:\(contact.agent)"
        let active = contacts.values.filter { $0.agent == contact.agent && $0.room != nil }.count
        // Recorders that could take this room now: a room no recorder can take counts as none idle.
        let idle = clients.values.filter(\.canTakeRoom).count
        return DecisionFacts(
            customer: contact.customer, agent: contact.agent, queue: contact.queue, attributes: contact.attributes,
            agentConnected: identities[agentKey] != nil, agentActiveVideoSessions: active, idleRecorders: idle,
            chatMessages: contact.transcript.count, chatDurationSeconds: now.timeIntervalSince(contact.opened))
    }

    func respond(_ answer: ResponseVideoUpgrade, by client: Client, re: Int?) throws(ProtocolError) {
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
    func settle(_ contact: Contact, response: Bool, divID: String, by: String, reason: String?, automatic: Bool,
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
}
