import AccessToken
import Foundation
import Logging
import Signaling

/// Video rooms and their recorders: who joins, who leaves, when a room ends; which recorder takes a room.
extension HubState {
    func startRoom(_ contact: Contact, request: VideoUpgradeRequested, answer: VideoUpgradeAnswered, recordingRequired: Bool) {
        let roomID = Self.newID("rm")
        let started = RecordRoom(contactID: contact.id, roomID: roomID, useAudio: request.useAudio, useVideo: request.useVideo,
                                 mediaEndpoint: policy.mediaEndpoint, request: request, answer: answer,
                                 transcript: Array(contact.transcript.suffix(RecordRoom.transcriptLines)))
        let room = Room(id: roomID, contactID: contact.id, started: started, now: clock.now)
        room.recordingRequired = recordingRequired
        contact.room = room
        contact.hadRoom = true
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
    func join(_ room: Room, _ participant: Participant) {
        for member in room.members {
            send(ParticipantEvent(contactID: room.contactID, roomID: room.id, eventName: "onJoined", participant: member), toUser: participant.role, participant.userId)
            if let privacy = room.privacy[member.id] {  // a newcomer learns who is muted
                send(ParticipantEvent(contactID: room.contactID, roomID: room.id, eventName: "onPrivacyChanged", participant: member, privacy: privacy),
                     toUser: participant.role, participant.userId)
            }
        }
        room.members.append(participant)
        sendToRoom(ParticipantEvent(contactID: room.contactID, roomID: room.id, eventName: "onJoined", participant: participant), room, except: participant)
        sendToRoom(ParticipantEvent(contactID: room.contactID, roomID: room.id, eventName: "onDynamicChanged", participants: room.members), room)
    }

    func leaveRoom(_ room: Room, _ participant: Participant, reason: String) {
        room.members.removeAll { $0 == participant }
        room.privacy[participant.id] = nil
        revokeMediaTokens { $0.roomID == room.id && $0.participant == participant }
        sendToRoom(ParticipantEvent(contactID: room.contactID, roomID: room.id, eventName: "onLeft", participant: participant), room)
        // A video session is the customer's and the agent's: it ends when either leaves it (API-NOTES: a new
        // video session needs a new escalation). A supervisor alone never keeps a room alive.
        if participant.role == .customer || participant.role == .agent {
            endRoom(room, reason: "the \(participant.role.rawValue) left")
        } else if room.humans.isEmpty {
            endRoom(room, reason: "no participant left")
        } else {
            sendToRoom(ParticipantEvent(contactID: room.contactID, roomID: room.id, eventName: "onDynamicChanged", participants: room.members), room)
        }
    }

    func endRoom(_ room: Room, reason: String) {
        if room.everRecorded {
            tellRecordingStatus(room, .stopped, recorder: room.recordingBy, reason: reason)
        } else if !room.statusTold {
            // A room that ends before its recorder wrote anything (it was lost, or slow to join) and
            // whose people heard nothing yet: they learn now that it was not recorded.
            tellRecordingStatus(room, .stopped, recorder: nil, reason: "not recorded: the room ended (\(reason)) before a recorder wrote it")
        }
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

    func unassignRecorder(_ room: Room, _ recorder: Client) {
        room.recorder = nil
        room.recorderAssigned = nil
        if room.recordingBy == recorder.participant {
            room.recordingBy = nil
            room.unrecordedSince = clock.now
        }
        recorder.assignedRooms.remove(room.id)
        revokeMediaTokens { $0.roomID == room.id && $0.participant == recorder.participant }
    }

    /// The least loaded recording client records the room; with none, it waits for one.
    func assignRecorder(_ room: Room, excluding excluded: ConnectionID? = nil) {
        guard room.recorder == nil else { return }
        let recorders = clients.values.filter {
            $0.canTakeRoom && $0.connection != excluded && !room.failedRecorders.contains($0.participant.id)
        }
        // The most headroom: the busier of its machine (as it reports) and its rooms as a share of its capacity, a
        // deep render queue counting against it (then the fewest rooms, then the lowest id).
        func load(_ client: Client) -> Double {
            max(client.reportedLoad, Double(client.assignedRooms.count) / Double(client.hello.capacity ?? 1_000_000))
                + 0.01 * Double(min(client.queuedComposites, 100))
        }
        guard let chosen = recorders.min(by: {
            (load($0), $0.assignedRooms.count, $0.hello.userId) < (load($1), $1.assignedRooms.count, $1.hello.userId)
        }) else {
            logger.notice("no recorder can take the room", metadata: ["room": "\(room.id)"])
            return
        }
        room.recorder = chosen.connection
        room.recorderAssigned = clock.now
        chosen.assignedRooms.insert(room.id)
        var assignment = room.started
        assignment.mediaToken = issueMediaToken(room, chosen)
        room.parts += 1
        assignment.part = room.parts
        assignment.previousRecorder = room.lastRecorder
        room.lastRecorder = chosen.participant.id
        send(assignment, to: chosen.connection)
    }

    func assignWaitingRooms() {
        for room in rooms.values where room.recorder == nil { assignRecorder(room) }
    }

    /// Returns the room's contact.
    @discardableResult
    func joinRoom(_ join: JoinRoom, by client: Client) throws(ProtocolError) -> String {
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
}
