import AccessToken
import Foundation
import Logging
import Signaling

/// Media-plane tokens: issued per room member, bound to the key they were issued to, revoked when it leaves.
extension HubState {
    /// A new media token for `client` in `room`, bound to the client's CURVE key when it has one.
    func issueMediaToken(_ room: Room, _ client: Client) -> String {
        var generator = SystemRandomNumberGenerator()
        let token = (0..<4).map { _ in String(generator.next() & 0xffff_ffff_ffff, radix: 36) }.joined(separator: "-")
        mediaTokens[token] = MediaAdmission(roomID: room.id, participant: client.participant, issuedTo: client.authenticatedUser)
        return token
    }

    func revokeMediaTokens(where predicate: (MediaAdmission) -> Bool) {
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
}

/// Whom a media token admits: a room member, and under CURVE only the key it was issued to.
struct MediaAdmission {
    let roomID: String
    let participant: Participant
    /// The ZAP `User-Id` (`role:userId`) of the signaling connection the token was issued to; nil without CURVE.
    let issuedTo: String?
}
