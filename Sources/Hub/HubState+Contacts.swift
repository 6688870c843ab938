import AccessToken
import Foundation
import Logging
import Signaling

/// Contacts and their chat: who may open one, the transcript and its limits, closing.
extension HubState {
    func openContact(_ open: OpenContact, by client: Client) throws(ProtocolError) -> Contact {
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
                              attributes: open.attributes ?? [:], opened: clock.wallNow)
        contacts[contact.id] = contact
        client.contacts.insert(contact.id)
        if let agentConnection = identities["agent:\(agent)"] { clients[agentConnection]?.contacts.insert(contact.id) }
        logger.info("contact opened", metadata: ["contact": "\(contact.id)", "customer": "\(contact.customer)", "agent": "\(agent)"])
        return contact
    }

    /// The contact, if the client is one of its two members.
    func memberContact(_ id: String, _ client: Client) throws(ProtocolError) -> Contact {
        guard let contact = contacts[id] else { throw ProtocolError(.unknownContact, "no open contact \(id)") }
        guard contact.isMember(client.participant) else { throw ProtocolError(.notMember, "not a member of contact \(id)") }
        return contact
    }

    func chat(_ chat: SendChat, by client: Client) throws(ProtocolError) {
        let contact = try memberContact(chat.contactID, client)
        guard contact.transcript.count < policy.maxTranscript, contact.transcriptBytes + chat.text.utf8.count <= policy.maxTranscriptBytes else {
            throw ProtocolError(.queueFull, "contact \(contact.id)'s transcript is full (\(policy.maxTranscript) lines or \(policy.maxTranscriptBytes) bytes)")
        }
        let event = ChatEvent(contactID: contact.id, from: client.participant.id, text: chat.text,
                              seq: contact.transcript.count + 1, at: Int64(clock.wallNow.timeIntervalSince1970 * 1000))
        contact.transcript.append(event)
        contact.transcriptBytes += chat.text.utf8.count
        sendToMembers(event, of: contact)
        if let room = contact.room, let recorder = room.recorder { send(event, to: recorder) }
    }

    /// Ends a contact: its request is cancelled, its room ends, the other member is told.
    func close(_ contact: Contact, by participant: Participant, reason: String) {
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
}
