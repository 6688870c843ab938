import AccessToken
import Foundation
import Logging
import Signaling

/// Whether a room is recorded, as its recorders report and the hub sees it, and what its people are told.
extension HubState {
    /// The room's recorder reports: it writes (members hear `recording`), or it cannot record the room
    /// any more (members hear `interrupted`; the room goes to another recorder, never back to this one).
    func recordingReport(_ report: RecordingReport, by client: Client) throws(ProtocolError) {
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
    func tellRecordingStatus(_ room: Room, _ status: RecordingStatus.Status, recorder: Participant?, reason: String?) {
        room.statusTold = true
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

    func rank(_ ranking: SpeakerRanking, by client: Client) throws(ProtocolError) {
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
}
