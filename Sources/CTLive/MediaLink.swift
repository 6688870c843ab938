import Foundation
import Logging
import Signaling
import Synchronization
import ZeroMQ

/// One participant's connection to the hub's media relay for one room: publishes its source (if any)
/// paced at real time, and hands what the other members publish to `received`.
///
/// The socket lives on the link's own thread, which also runs the source's encoder. ``stop()`` ends it.
public final class MediaLink: Sendable {
    /// Something another member of the room published.
    public enum Incoming: Sendable {
        case track(participant: String, announcement: TrackAnnouncement)
        case packet(participant: String, header: PacketHeader, payload: Data)
    }

    public struct Statistics: Sendable {
        public var packetsSent = 0
        public var packetsReceived = 0
        public var keyframeRequests = 0
        public var tracksPublished: [String] = []
        /// Packets received, by publisher participant id.
        public var receivedBy: [String: Int] = [:]
    }

    private let endpoint: String
    private let token: String
    private let curve: CurveClientKeys?
    private let publisher: (any MediaPublisher)?
    private let useAudio: Bool
    private let useVideo: Bool
    private let logger: Logger
    private let received: @Sendable (Incoming) -> Void
    private let failed: @Sendable (String) -> Void
    private let stopping = Atomic<Bool>(false)
    /// Wakes the link's thread for a stop or a keyframe request, instead of waiting out its poll (made by ``start()``).
    private let wakeup = Mutex<WakeupSignal?>(nil)
    private let finished = DispatchSemaphore(value: 0)
    private let stats = Mutex(Statistics())
    private let started = Atomic<Bool>(false)
    /// Privacy: this publisher's microphone or camera off. Its packets are not sent (the others see and
    /// hear nothing of it); a camera turned on again starts at a keyframe.
    private let microphoneOff = Atomic<Bool>(false)
    private let cameraOff = Atomic<Bool>(false)
    private let cameraResumed = Atomic<Bool>(false)
    /// Keyframe requests for other members' tracks, sent by the link's thread: (publisher, track).
    private let keyframeRequests = Mutex<[(participant: String, track: String)]>([])

    /// - Parameters:
    ///   - received: what the other members publish, on the link's thread.
    ///   - failed: called once, on the link's thread, when the link ends by itself (it cannot connect,
    ///     its source fails, the relay refuses its token): the owner then knows the room gets no media
    ///     from or to it. Not called after ``stop()``.
    public init(endpoint: String, token: String, curve: CurveClientKeys?, source: (any MediaPublisher)?, useAudio: Bool, useVideo: Bool,
                logger: Logger, received: @escaping @Sendable (Incoming) -> Void = { _ in },
                failed: @escaping @Sendable (String) -> Void = { _ in }) {
        self.endpoint = endpoint
        self.token = token
        self.curve = curve
        self.publisher = source
        self.useAudio = useAudio
        self.useVideo = useVideo
        self.logger = logger
        self.received = received
        self.failed = failed
    }

    deinit { stop() }

    public var statistics: Statistics { stats.withLock { $0 } }

    /// Turns this publisher's microphone or camera off (true) or on again; nil leaves it as it is.
    public func setPrivacy(microphone: Bool?, camera: Bool?) {
        if let microphone { microphoneOff.store(microphone, ordering: .relaxed) }
        if let camera {
            if !camera && cameraOff.load(ordering: .relaxed) { cameraResumed.store(true, ordering: .relaxed) }
            cameraOff.store(camera, ordering: .relaxed)
        }
    }

    /// Starts the link's thread (connect, `mediaHello`, announce, publish, receive).
    public func start() {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let signal: WakeupSignal
        do { signal = try WakeupSignal() } catch {
            // No descriptor left: the room gets no media from or to this member, and its owner is told.
            logger.error("media link cannot start: \(error)")
            failed("\(error)")
            finished.signal()
            return
        }
        wakeup.withLock { $0 = signal }
        let thread = Thread { [self] in
            run()
            finished.signal()
        }
        thread.name = "ctlive-media"
        thread.start()
    }

    /// Asks the hub for a keyframe from another member's track (a subscriber that could not decode it).
    public func requestKeyframe(participant: String, track: String) {
        keyframeRequests.withLock { requests in
            if requests.count < 64 { requests.append((participant, track)) }
        }
        wakeup.withLock { $0 }?.raise()
    }

    /// Stops publishing and receiving; waits for the thread to close its socket.
    public func stop() {
        guard started.load(ordering: .acquiring), !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wakeup.withLock { $0 }?.raise()
        finished.wait()
    }

    private func run() {
        do {
            let socket = try Socket(try Context.shared(), .dealer)
            try socket.setLinger(milliseconds: 0)
            try socket.setSendHighWaterMark(1000)
            try socket.setReceiveHighWaterMark(5000)
            try socket.setMaxMessageSize(Int64(MediaLimits.maxPacketBytes) + 64 * 1024)
            if let curve {
                try socket.makeCurveClient(CurveKeyPair(publicKey: curve.publicKey, secretKey: curve.secretKey), serverKey: curve.serverPublicKey)
            }
            try socket.connect(endpoint)
            try socket.send([WireCodec.encode(MediaHello(token: token))])
            if let refusal = try loop(socket), !stopping.load(ordering: .acquiring) {
                logger.error("media link refused: \(refusal)")
                failed(refusal)
            }
        } catch {
            logger.error("media link failed: \(error)")
            if !stopping.load(ordering: .acquiring) { failed("\(error)") }
        }
    }

    /// Publishes and receives until stopped (nil) or refused by the relay (the reason).
    private func loop(_ socket: Socket) throws -> String? {
        var poller = Poller()
        try poller.add(.socket(socket))
        let signal = wakeup.withLock { $0 }!
        try poller.add(.fileDescriptor(signal.fileDescriptor))
        let source = try publisher.map { try $0.openSource(useAudio: useAudio, useVideo: useVideo) }
        var welcomed = false
        var next: (trackIndex: Int, packet: PublishedPacket)?
        let clock = ContinuousClock()
        var due = clock.now
        // One origin for all tracks: the source's own alignment of audio and video is kept on the wire.
        var origin: Double?
        var start: (instant: ContinuousClock.Instant, wallUs: Int64)?
        while !stopping.load(ordering: .acquiring) {
            // Publish every packet that is due.
            if welcomed, let source {
                while true {
                    if next == nil { next = try source.nextPacket() }
                    guard let (index, packet) = next else { break }
                    let track = source.tracks[index].track
                    let timeBase = source.tracks[index].timeBase
                    let first = origin ?? Double(packet.dts) * timeBase
                    origin = first
                    let started = start ?? (clock.now, Int64(Date().timeIntervalSince1970 * 1e6))
                    start = started
                    // Paced by decoding time (it only grows); stamped with the presentation instant it was
                    // captured at, on this publisher's clock, which the recorder aligns tracks by.
                    due = started.instant + .microseconds(Int64(max(0, Double(packet.dts) * timeBase - first) * 1e6))
                    if due > clock.now { break }
                    let capturedUs = started.wallUs + Int64(((Double(packet.pts) * timeBase - first) * 1e6).rounded())
                    let kind = source.tracks[index].kind
                    if kind == "video" && cameraResumed.exchange(false, ordering: .relaxed) { source.keyframeRequested() }
                    if (kind == "audio" && microphoneOff.load(ordering: .relaxed)) || (kind == "video" && cameraOff.load(ordering: .relaxed)) {
                        next = nil  // private: captured, not sent
                        continue
                    }
                    let header = PacketHeader(track: track, pts: packet.pts, dts: packet.dts, duration: packet.duration,
                                              key: packet.isKeyframe, capturedUs: capturedUs)
                    do {
                        try socket.send([WireCodec.encode(header), Data(packet.data)], wait: false)
                        stats.withLock { $0.packetsSent += 1 }
                    } catch {
                        logger.debug("media packet not sent: \(error)")   // queue full or not yet connected: lose it
                    }
                    next = nil
                }
            }
            if welcomed {
                for request in keyframeRequests.withLock({ requests in defer { requests.removeAll() }; return requests }) {
                    try? socket.send([WireCodec.encode(Signaling.KeyframeRequest(track: request.track, participant: request.participant))], wait: false)
                }
            }
            // Pacing is computed here rather than by sleeping, so that receiving never waits behind a sleep.
            let untilDue = due - clock.now
            // Nothing to publish: wait for input or a wake-up alone.
            let waitMs = welcomed && next != nil ? max(0, Int(untilDue.components.seconds * 1000 + untilDue.components.attoseconds / 1_000_000_000_000_000)) : (source == nil ? -1 : 20)
            let ready = try poller.poll(timeoutMilliseconds: waitMs)
            if ready.contains(1) { signal.clear() }
            guard ready.contains(0) else { continue }
            while let (message, _) = try socket.receive(wait: false, maxFrames: 3) {
                let frames = message.frames
                if frames.count == 1 {
                    guard let envelope = try? WireCodec.mediaFromHub.decode(frames[0]) else { continue }
                    switch envelope.message {
                    case let welcome as MediaWelcome:
                        welcomed = true
                        logger.debug("media admitted", metadata: ["room": "\(welcome.roomID)"])
                        for announcement in source?.tracks ?? [] {
                            try socket.send([WireCodec.encode(announcement)])
                        }
                        stats.withLock { $0.tracksPublished = (source?.tracks ?? []).map(\.track).sorted() }
                    case is Signaling.KeyframeRequest:
                        stats.withLock { $0.keyframeRequests += 1 }
                        source?.keyframeRequested()
                    case let error as ErrorReply:
                        logger.warning("media relay refused: \(error.code.rawValue): \(error.message)")
                        // Not in the room any more is how a room ends for a member; a refused token is a failure.
                        if error.code == .notInRoom { return nil }
                        if error.code == .forbidden { return "the media relay refused: \(error.message)" }
                    default:
                        break
                    }
                    continue
                }
                // Relayed: [publisher participant id, JSON, payload?]
                let participant = String(decoding: frames[0], as: UTF8.self)
                guard let envelope = try? WireCodec.mediaFromHub.decode(frames[1]) else { continue }
                if let announcement = envelope.message as? TrackAnnouncement {
                    received(.track(participant: participant, announcement: announcement))
                } else if let header = envelope.message as? PacketHeader, frames.count == 3 {
                    stats.withLock {
                        $0.packetsReceived += 1
                        $0.receivedBy[participant, default: 0] += 1
                    }
                    received(.packet(participant: participant, header: header, payload: frames[2]))
                }
            }
        }
        return nil
    }
}
