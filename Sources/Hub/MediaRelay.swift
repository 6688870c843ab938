import Foundation
import Logging
import Signaling
import ZeroMQ

/// The media plane of the hub: forwards encoded packets between a room's members without decoding them.
///
/// Lives on the hub thread beside ``HubState``, which decides who may send and receive. Each
/// subscriber's queue is its ZeroMQ pipe, bounded by the send high-water mark: when it is full the
/// subscriber loses that packet (never slowing the others) and the publisher is asked for a keyframe.
final class MediaRelay {
    private struct Peer {
        let roomID: String
        let participant: Participant
        /// Announcements as published (JSON), by track id, replayed to members who arrive later.
        var tracks: [String: Data] = [:]
        /// Video tracks, for keyframe requests.
        var videoTracks: Set<String> = []
        /// The last keyframe request sent for this publisher, to rate-limit them.
        var lastKeyframeRequest: ContinuousClock.Instant?
        /// The last bitrate request passed on to this publisher.
        var lastBitrateRequest: ContinuousClock.Instant?
    }

    /// Counters, for statistics and tests.
    struct Counters {
        var packetsIn = 0
        var packetsOut = 0
        var dropped = 0
        var refused = 0
        var keyframeRequests = 0
    }

    private let socket: Socket
    private let logger: Logger
    private var peers: [ConnectionID: Peer] = [:]
    /// roomID → participant id → media connection.
    private var byRoom: [String: [String: ConnectionID]] = [:]
    private(set) var counters = Counters()

    init(socket: Socket, logger: Logger) {
        self.socket = socket
        self.logger = logger
    }

    /// Handles one message from a media client: frames are [routing id, JSON, payload?].
    func handle(_ message: Message, truncated: Bool, state: HubState, now: ContinuousClock.Instant) {
        guard let routingID = message.frames.first else { return }
        let connection = ConnectionID(routingID)
        let body = message.frames.dropFirst()
        guard !truncated, (1...2).contains(body.count), let json = body.first else {
            return refuse(connection, ProtocolError(.multipart, "a media message is a JSON frame, plus the payload for a packet"), re: nil)
        }
        let envelope: Envelope
        do { envelope = try WireCodec.mediaToHub.decode(json) } catch {
            return refuse(connection, error, re: json.count <= SignalingProtocol.maxMessageBytes ? WireCodec.peekID(json) : nil)
        }
        let re = envelope.id
        if let hello = envelope.message as? MediaHello {
            return admit(connection, hello, key: message.userID, re: re, state: state, now: now)
        }
        guard var peer = peers[connection] else {
            return refuse(connection, ProtocolError(.helloRequired, "send mediaHello with your token first"), re: re)
        }
        guard state.isMember(roomID: peer.roomID, participantID: peer.participant.id) else {
            forget(connection)
            return refuse(connection, ProtocolError(.notInRoom, "no longer a member of room \(peer.roomID)"), re: re)
        }
        switch envelope.message {
        case let track as TrackAnnouncement:
            guard peer.tracks[track.track] != nil || peer.tracks.count < MediaLimits.maxTracks else {
                return refuse(connection, ProtocolError(.invalidField, "more than \(MediaLimits.maxTracks) tracks"), re: re)
            }
            peer.tracks[track.track] = json
            if track.kind == "video" { peer.videoTracks.insert(track.track) }
            peers[connection] = peer
            forward([Data(peer.participant.id.utf8), json], from: connection, peer, state: state, now: now)
        case let header as PacketHeader:
            counters.packetsIn += 1
            guard body.count == 2, let payload = body.last, payload.count <= MediaLimits.maxPacketBytes else {
                return refuse(connection, ProtocolError(.tooLarge, "a packet needs one payload frame of at most \(MediaLimits.maxPacketBytes) bytes"), re: re)
            }
            guard peer.tracks[header.track] != nil else {
                return refuse(connection, ProtocolError(.invalidField, "packet on unannounced track \(header.track)"), re: re)
            }
            forward([Data(peer.participant.id.utf8), json, payload], from: connection, peer, state: state, now: now)
        case let request as KeyframeRequest:
            // A member that cannot decode a publisher's track asks for a keyframe (rate-limited like the hub's own).
            guard let publisherID = request.participant, let publisher = byRoom[peer.roomID]?[publisherID], var target = peers[publisher],
                  state.isMember(roomID: peer.roomID, participantID: publisherID) else {
                return refuse(connection, ProtocolError(.notInRoom, "no publisher \(request.participant ?? "(none)") in room \(peer.roomID)"), re: re)
            }
            guard target.videoTracks.contains(request.track) else {
                return refuse(connection, ProtocolError(.invalidField, "\(publisherID) publishes no video track \(request.track)"), re: re)
            }
            requestKeyframes(from: publisher, &target, tracks: [request.track], now: now, force: false)
            peers[publisher] = target
        case let request as BitrateRequest:
            // A member whose link cannot carry a publisher's video asks it to send less (the publisher's
            // rate otherwise follows only its own uplink). Passed on at most twice a second per publisher.
            guard let publisherID = request.participant, let publisher = byRoom[peer.roomID]?[publisherID], var target = peers[publisher],
                  state.isMember(roomID: peer.roomID, participantID: publisherID), target.videoTracks.contains(request.track) else {
                return refuse(connection, ProtocolError(.notInRoom, "no video track \(request.track) of \(request.participant ?? "(none)") in room \(peer.roomID)"), re: re)
            }
            if let last = target.lastBitrateRequest, now - last < .milliseconds(500) { return }
            target.lastBitrateRequest = now
            peers[publisher] = target
            send([WireCodec.encode(BitrateRequest(track: request.track, maxKbps: request.maxKbps))], to: publisher)
        case is Ping:
            send([WireCodec.encode(Pong(), re: envelope.id)], to: connection)
        default:
            refuse(connection, ProtocolError(.unknownType, "not a media message"), re: re)
        }
    }

    /// Admits a media connection by its token. `key` is the connection's CURVE identity (ZAP `User-Id`), if any.
    ///
    /// A token admits one connection: the one it was issued to, under CURVE the holder of the key the
    /// token was issued to. A second connection with the same token is refused, unless under CURVE it
    /// proves the same key (the same party reconnecting), which then takes the media over.
    private func admit(_ connection: ConnectionID, _ hello: MediaHello, key: String?, re: Int?, state: HubState, now: ContinuousClock.Instant) {
        guard peers[connection] == nil else { return refuse(connection, ProtocolError(.alreadyHello, "already admitted"), re: re) }
        guard let admission = state.mediaAdmission(token: hello.token) else {
            return refuse(connection, ProtocolError(.forbidden, "unknown or revoked media token"), re: re)
        }
        if let owner = admission.issuedTo, owner != key {
            return refuse(connection, ProtocolError(.forbidden, "this media token was issued to another key"), re: re)
        }
        if let previous = byRoom[admission.roomID]?[admission.participant.id], peers[previous] != nil {
            guard admission.issuedTo != nil else {
                return refuse(connection, ProtocolError(.forbidden, "this media token is already in use"), re: re)
            }
            forget(previous)
        }
        peers[connection] = Peer(roomID: admission.roomID, participant: admission.participant)
        byRoom[admission.roomID, default: [:]][admission.participant.id] = connection
        send([WireCodec.encode(MediaWelcome(roomID: admission.roomID, participant: admission.participant), re: re)], to: connection)
        // The newcomer learns every track already published, and needs a keyframe to start decoding.
        for (_, other) in byRoom[admission.roomID] ?? [:] where other != connection {
            guard var publisher = peers[other] else { continue }
            for announcement in publisher.tracks.values {
                send([Data(publisher.participant.id.utf8), announcement], to: connection)
            }
            requestKeyframes(from: other, &publisher, now: now, force: true)
            peers[other] = publisher
        }
        logger.info("media peer admitted", metadata: ["room": "\(admission.roomID)", "participant": "\(admission.participant.id)"])
    }

    /// Sends to every other member of the publisher's room that is connected to the media plane.
    private func forward(_ frames: [Data], from publisherConnection: ConnectionID, _ publisher: Peer, state: HubState, now: ContinuousClock.Instant) {
        var lost = false
        for (participantID, connection) in byRoom[publisher.roomID] ?? [:] where connection != publisherConnection {
            guard state.isMember(roomID: publisher.roomID, participantID: participantID) else { continue }
            if send(frames, to: connection) { counters.packetsOut += 1 } else {
                counters.dropped += 1
                lost = true
            }
        }
        if lost, var peer = peers[publisherConnection] {
            requestKeyframes(from: publisherConnection, &peer, now: now, force: false)
            peers[publisherConnection] = peer
        }
    }

    /// Asks a publisher for keyframes on `tracks` (default: every video track it publishes), at most once a second unless forced.
    private func requestKeyframes(
        from connection: ConnectionID, _ peer: inout Peer, tracks: Set<String>? = nil, now: ContinuousClock.Instant, force: Bool
    ) {
        if !force, let last = peer.lastKeyframeRequest, now - last < .seconds(1) { return }
        peer.lastKeyframeRequest = now
        for track in tracks.map({ $0.intersection(peer.videoTracks) }) ?? peer.videoTracks {
            counters.keyframeRequests += 1
            send([WireCodec.encode(KeyframeRequest(track: track))], to: connection)
        }
    }

    /// Never blocks: a full queue or a gone peer loses the message.
    @discardableResult
    private func send(_ frames: [Data], to connection: ConnectionID) -> Bool {
        do {
            try socket.send([connection.routingID] + frames, wait: false)
            return true
        } catch {
            return false
        }
    }

    private func refuse(_ connection: ConnectionID, _ error: ProtocolError, re: Int?) {
        counters.refused += 1
        logger.debug("media refused", metadata: ["peer": "\(connection)", "code": "\(error.code.rawValue)", "reason": "\(error.message)"])
        send([WireCodec.encode(ErrorReply(error), re: re)], to: connection)
    }

    private func forget(_ connection: ConnectionID) {
        guard let peer = peers.removeValue(forKey: connection) else { return }
        if byRoom[peer.roomID]?[peer.participant.id] == connection { byRoom[peer.roomID]?[peer.participant.id] = nil }
        if byRoom[peer.roomID]?.isEmpty == true { byRoom[peer.roomID] = nil }
    }

    /// Drops peers whose membership ended (called with the hub's timers).
    func sweep(state: HubState) {
        for (connection, peer) in peers where !state.isMember(roomID: peer.roomID, participantID: peer.participant.id)
            && state.mediaAdmission(forRoom: peer.roomID, participantID: peer.participant.id) == false {
            forget(connection)
        }
    }
}
