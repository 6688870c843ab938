import Catalog
import ChildProcess
import CTLive
import CTLiveMedia
import Evidence
import Foundation
import Timestamps
import IsolatedRecording
import Logging
import Media
import PolicyHost
import PolicyKit
import Recorder
import Review
import Signaling
import Synchronization

/// The headless participant: records the rooms the hub assigns it and answers requests for agents.
///
/// It is an ordinary SDK client with role `recorder`: it joins rooms with `joinRoom`, receives every
/// member's media through the relay, feeds a ``LiveRecording``, reports speaker changes back to the
/// hub (which makes `onLoudestChanged` / `onDynamicChanged`), and puts the escalation, the decision,
/// the joins, leaves and chat on the recording's timeline.
public final class RecorderBot: Sendable {
    public let configuration: BotConfiguration
    private let logger: Logger
    private let client: CTLiveClient
    /// Answers requests for agents (nil: no policy).
    private let delegate: PolicyDelegate?
    /// Review pages and the catalog for finished recordings.
    private let archive: RecordingArchive
    /// How busy the machine is: `auto` composites are live only with headroom.
    private let load = MachineLoad()
    /// The command that renders a queued composite: `ctlive render-composite --directory DIR`.
    public static let rendererSubcommand = "render-composite"
    private let sessions = Mutex<[String: Session]>([:])
    /// Recordings being finished off the I/O thread; ``stop()`` waits for them.
    private let finishing = DispatchGroup()
    /// Why the bot takes no rooms now (it cannot write), nil while it does.
    private let notAccepting = Mutex<String?>(nil)

    /// A room being recorded: the part being written now, and what a new part needs to start from.
    private final class Session: Sendable {
        let roomID: String
        let contactID: String
        let assignment: RecordRoom
        private let state: Mutex<State>
        /// Set once the room's media link exists (it delivers to whichever part is current).
        let link = Mutex<MediaLink?>(nil)

        struct State {
            var recording: any SessionRecorder
            var part: Int
            var restarts: [ContinuousClock.Instant] = []
            var ended = false
            /// Who is in the room and what they publish, to replay into a new part.
            var present: [(id: String, name: String, role: String)] = []
            var tracks: [(participant: String, track: String, parameters: TrackParameters)] = []
        }

        init(assignment: RecordRoom, recording: any SessionRecorder) {
            roomID = assignment.roomID
            contactID = assignment.contactID
            self.assignment = assignment
            state = Mutex(State(recording: recording, part: assignment.part ?? 1))
        }

        var recording: any SessionRecorder { state.withLock { $0.recording } }
        func withState<T>(_ body: (inout State) -> T) -> T { state.withLock { body(&$0) } }
    }

    public init(configuration: BotConfiguration, policy: PolicyEngine?, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        let archive = RecordingArchive(
            root: configuration.recordingsRoot, catalog: configuration.catalog,
            renderer: configuration.recordingWorker.map { [$0[0], RecorderBot.rendererSubcommand] }, signingKey: configuration.signingKey,
            load: load, logger: logger)
        self.archive = archive
        delegate = policy.map { PolicyDelegate(policy: $0, records: configuration.records, logger: logger, indexDecision: archive.index(decision:)) }
        let delegated = Array(Set(configuration.agents + (policy?.delegatedAgents ?? []))).sorted()
        var clientConfiguration = ClientConfiguration(
            hub: configuration.hub,
            hello: Hello(role: .recorder, userId: configuration.userId, name: "Recorder \(configuration.userId)",
                         delegateFor: delegated.isEmpty ? nil : delegated, records: configuration.records, capacity: configuration.capacity),
            curve: configuration.curve)
        clientConfiguration.engagesMedia = false   // the bot's media links are its own, per recording
        client = CTLiveClient(configuration: clientConfiguration, logger: logger)
    }

    /// Checks the signing key and copies its public key to `<recordingsRoot>/keys/<key id>.pub`, where
    /// `ctlive recordings verify` finds the keys a recordings folder trusts. Call before ``start(patience:)``.
    public static func publishSigningKey(_ configuration: BotConfiguration) throws {
        guard let path = configuration.signingKey else { return }
        let key = try SigningKey.load(path: path)
        let keys = configuration.recordingsRoot + "/keys"
        try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
        try key.publicKey.write(to: "\(keys)/\(key.keyID).pub")
    }

    /// The agents this bot answers for.
    public var delegatedAgents: [String] { client.configuration.hello.delegateFor ?? [] }

    /// Recordings finished so far.
    public var finished: [RecordingResult] { archive.recordings }

    public func onRecordingFinished(_ handler: @escaping @Sendable (RecordingResult) -> Void) {
        archive.onRecordingFinished(handler)
    }

    /// Called with a recording's folder when its queued composite has been rendered.
    public func onCompositeRendered(_ handler: @escaping @Sendable (String) -> Void) {
        archive.onCompositeRendered(handler)
    }

    /// Composites waiting to be rendered by this bot.
    public var compositesQueued: Int { archive.compositesQueued }

    /// The composite mode of a new part: `auto` is live while the machine has headroom.
    private func compositeMode() -> CompositeMode {
        guard configuration.composite == .auto else { return configuration.composite }
        return load.hasHeadroom ? .live : .after
    }

    /// Connects to the hub and starts serving. A hub not up yet, or one that still holds this bot's
    /// previous connection (`id_in_use` until it times out), is tried again for `patience`.
    public func start(patience: Duration = .zero) async throws(ClientError) {
        archive.completeAbandoned()
        client.onEvent { [weak self] event in self?.handle(event) }
        let deadline = ContinuousClock.now + patience
        var delay: Duration = .milliseconds(200)
        while true {
            do {
                try await client.connect()
                break
            } catch {
                let retryable: Bool
                switch error {
                case .timedOut: retryable = true
                case .refused(let refusal): retryable = refusal.code == .idInUse
                default: retryable = false
                }
                guard retryable, ContinuousClock.now + delay < deadline else { throw error }
                logger.notice("hub not ready for this bot yet; trying again", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(2))
            }
        }
        logger.info("bot connected", metadata: ["hub": "\(configuration.hub)", "answersFor": "\(delegatedAgents)"])
        if configuration.records, let problem = Self.writeProblem(root: configuration.recordingsRoot, minimumFree: configuration.minimumFreeBytes) {
            stopAccepting(because: problem)
        }
    }

    /// Finishes every recording under way and leaves the hub.
    public func stop() async {
        await client.close()
        for session in sessions.withLock({ state in defer { state.removeAll() }; return Array(state.values) }) {
            finishLater(session, reason: "bot stopped")
        }
        await withCheckedContinuation { continuation in finishing.notify(queue: .global()) { continuation.resume() } }
    }

    /// Finishes a recording on another thread: finishing flushes and hashes the file, too slow for the I/O thread.
    /// The recording ends at once, when the end is learnt; writing out and indexing follow on another thread.
    private func finishLater(_ session: Session, reason: String, interrupted: Bool = false) {
        session.withState { state in
            state.ended = true
            state.recording.record(event: TimelineEvent(kind: "end", fields: ["reason": reason]))
            state.recording.end(interruptedBy: interrupted ? reason : nil)
        }
        finishing.enter()
        DispatchQueue.global().async { [self] in
            finish(session)
            finishing.leave()
        }
    }

    /// Events arrive on the client's I/O thread, in order: keep this quick.
    private func handle(_ event: ClientEvent) {
        switch event {
        case .recordRoom(let assignment):
            guard let session = startRecording(assignment) else { return }
            Task { await self.join(session) }
        case .participant(let participantEvent):
            guard let session = session(room: participantEvent.roomID) else { return }
            switch participantEvent.eventName {
            case "onJoined":
                guard let p = participantEvent.participant, p.role != .recorder else { return }
                session.withState { state in
                    state.present.append((p.id, p.name, p.role.rawValue))
                    state.recording.participantJoined(id: p.id, name: p.name, role: p.role.rawValue, colorHint: nil)
                }
            case "onLeft":
                guard let p = participantEvent.participant, p.role != .recorder else { return }
                session.withState { state in
                    state.present.removeAll { $0.id == p.id }
                    state.tracks.removeAll { $0.participant == p.id }
                    state.recording.participantLeft(id: p.id)
                }
            default: break
            }
        case .chat(let chat):
            guard let session = sessions.withLock({ $0.values.first { $0.contactID == chat.contactID } }) else { return }
            session.recording.record(event: TimelineEvent(kind: "chat", fields: ["from": chat.from, "text": chat.text, "seq": "\(chat.seq)"]))
        case .roomEnded(let ended):
            guard let session = sessions.withLock({ $0.removeValue(forKey: ended.roomID) }) else { return }
            finishLater(session, reason: ended.reason)
        case .requestVideoUpgrade(let request):
            guard let facts = request.facts, let delegate else { return }
            let client = self.client
            Task { await delegate.decide(request, facts: facts, client: client) }
        case .contactClosed(let closed):
            delegate?.forget(contactID: closed.contactID)
        case .requestCancelled(let cancelled):
            delegate?.forget(contactID: cancelled.contactID)
        case .disconnected(let reason), .connectionLost(let reason):
            // The hub forgets what it loses: these rooms are not ours to record any more (a new hub
            // assigns new ones once the client has reconnected).
            logger.warning("bot lost the hub: \(reason)")
            for session in sessions.withLock({ state in defer { state.removeAll() }; return Array(state.values) }) {
                finishLater(session, reason: "hub connection lost: \(reason)", interrupted: true)
            }
        case .reconnected:
            logger.notice("bot reconnected to the hub", metadata: ["hub": "\(configuration.hub)"])
            // A new hub knows nothing of it: say again that this bot takes no rooms.
            if let reason = notAccepting.withLock({ $0 }) { try? client.post(RecorderState(accepting: false, reason: reason)) }
        default:
            break
        }
    }

    private func session(room roomID: String) -> Session? { sessions.withLock { $0[roomID] } }

    // MARK: Recording

    /// The `ctlive` that runs (or the one beside the running executable) as a recording worker, if any.
    public static func defaultRecordingWorker() -> [String]? {
        guard let executable = currentExecutablePath() else { return nil }
        let candidates = [executable, ((executable as NSString).deletingLastPathComponent as NSString).appendingPathComponent("ctlive")]
        guard let ctlive = candidates.first(where: { ($0 as NSString).lastPathComponent == "ctlive" && FileManager.default.isExecutableFile(atPath: $0) })
        else { return nil }
        return [ctlive, RecordingProcess.workerSubcommand]
    }

    /// Opens a part of a room's recording: in a worker process, or in this one.
    private func openPart(_ assignment: RecordRoom, part: Int, previousPart: String?) throws -> any SessionRecorder {
        var settings = RecordingConfiguration(root: configuration.recordingsRoot, sessionID: assignment.roomID,
                                              contactID: assignment.contactID, layout: configuration.layout)
        settings.width = configuration.width
        settings.height = configuration.height
        settings.fps = configuration.fps
        settings.composite = compositeMode()
        settings.signingKey = configuration.signingKey
        settings.recorderVersion = "ctlive-bot 0.1"
        settings.part = part
        settings.previousRecorder = previousPart == nil ? assignment.previousRecorder : "recorder:\(configuration.userId)"
        settings.previousPart = previousPart
        guard let worker = configuration.recordingWorker else { return try LiveRecording(configuration: settings, logger: logger) }
        let process = try RecordingProcess(configuration: settings, command: worker + ["--room", assignment.roomID], logger: logger)
        return process
    }

    /// Opens the recording at once, on the I/O thread, so that no event of the room that follows is missed.
    private func startRecording(_ assignment: RecordRoom) -> Session? {
        let recording: any SessionRecorder
        do { recording = try openPart(assignment, part: assignment.part ?? 1, previousPart: nil) } catch {
            logger.error("cannot start recording room \(assignment.roomID): \(error)")
            try? client.post(RecordingReport(roomID: assignment.roomID, status: .failed, reason: "cannot start recording: \(error)"))
            return nil
        }
        guard let endpoint = assignment.mediaEndpoint, let token = assignment.mediaToken else {
            logger.error("room \(assignment.roomID) has no media endpoint: nothing to record")
            _ = try? recording.finish(interruptedBy: nil)
            return nil
        }
        let session = Session(assignment: assignment, recording: recording)
        let link = MediaLink(endpoint: endpoint, token: token, curve: configuration.curve, source: nil,
                             useAudio: assignment.useAudio, useVideo: assignment.useVideo, logger: logger) { [weak session] incoming in
            guard let session else { return }
            switch incoming {
            case .track(let participant, let announcement):
                guard let parameters = announcement.parameters else { return }
                session.withState { state in
                    state.tracks.removeAll { $0.participant == participant && $0.track == announcement.track }
                    state.tracks.append((participant, announcement.track, parameters))
                    state.recording.trackAnnounced(participantID: participant, trackID: announcement.track, parameters: parameters)
                }
            case .packet(let participant, let header, let payload):
                session.recording.receive(participantID: participant, trackID: header.track, packet: header.packet(payload: payload),
                                          capturedUs: header.capturedUs)
            }
        } failed: { [weak self] reason in
            // Without its media link the bot would record an empty room and never know: the hub finds another recorder.
            guard let self else { return }
            logger.error("media link of room \(assignment.roomID) failed: \(reason)")
            try? client.post(RecordingReport(roomID: assignment.roomID, status: .failed, reason: "its media link failed: \(reason)"))
            if let session = sessions.withLock({ $0.removeValue(forKey: assignment.roomID) }) {
                finishLater(session, reason: "media link failed: \(reason)")
            }
        }
        session.link.withLock { $0 = link }
        attach(session, recording)
        sessions.withLock { $0[assignment.roomID] = session }
        let request = assignment.request, answer = assignment.answer
        for chat in assignment.transcript ?? [] {
            recording.record(event: TimelineEvent(kind: "chat", fields: [
                "from": chat.from, "text": chat.text, "seq": "\(chat.seq)", "sentAt": Self.isoTime(milliseconds: chat.at), "beforeSession": "true"]))
        }
        recording.record(event: TimelineEvent(kind: "request", fields: [
            "requestID": request.requestID, "from": request.from.id, "divID": request.divID,
            "useAudio": "\(request.useAudio)", "useVideo": "\(request.useVideo)"]))
        recording.record(event: TimelineEvent(kind: "answer", fields: [
            "requestID": answer.requestID, "response": "\(answer.response)", "by": answer.by,
            "reason": answer.reason ?? "", "automatic": "\(answer.automatic)"]))
        for audit in delegate?.takeDecisions(contactID: assignment.contactID) ?? [] {
            recording.record(event: PolicyDelegate.timelineEvent(audit))
        }
        return session
    }

    /// Wires a part's callbacks: speaker changes to the hub, keyframe requests to the publishers, a
    /// write failure reported (the hub finds another recorder), a lost worker replaced by a new part.
    private func attach(_ session: Session, _ recording: any SessionRecorder) {
        let client = self.client, roomID = session.roomID
        var handlers = RecordingHandlers()
        handlers.loudestChanged = { _, ranking in
            try? client.post(SpeakerRanking(roomID: roomID, ranking: ranking, loudestChanged: true))
        }
        handlers.keyframeNeeded = { [weak session] participant, track in
            session?.link.withLock { $0 }?.requestKeyframe(participant: participant, track: track)
        }
        handlers.writeFailed = { [weak self] failure in
            guard let self else { return }
            try? self.client.post(RecordingReport(roomID: roomID, status: .failed, reason: failure))
            self.stopAccepting(because: "writing a recording failed: \(failure)")
            if let session = self.sessions.withLock({ $0.removeValue(forKey: roomID) }) {
                self.finishLater(session, reason: "recording failed: \(failure)")
            }
        }
        recording.setHandlers(handlers)
        if let process = recording as? RecordingProcess {
            process.onLost = { [weak self, weak session, weak process] how in
                guard let self, let session, let process else { return }
                self.continueAfterLoss(session, lost: process, how: how)
            }
        }
    }

    // MARK: Taking rooms

    /// Why recordings cannot be written under `root` now (a full disk, no permission), or nil.
    static func writeProblem(root: String, minimumFree: Int64) -> String? {
        var stats = statvfs()
        guard statvfs(root, &stats) == 0 else { return "cannot read \(root): \(String(cString: strerror(errno)))" }
        let free = Int64(stats.f_bavail) * Int64(stats.f_frsize)
        if free < minimumFree { return "only \(free >> 20) MiB free on \(root) (\(minimumFree >> 20) MiB needed)" }
        let probe = root + "/.ctlive-write-probe"
        guard FileManager.default.createFile(atPath: probe, contents: Data(count: 4096)) else { return "cannot write in \(root)" }
        try? FileManager.default.removeItem(atPath: probe)
        return nil
    }

    /// Tells the hub this bot takes no new rooms, and checks every 2 s whether it can write again.
    private func stopAccepting(because reason: String) {
        let first = notAccepting.withLock { current in
            defer { current = reason }
            return current == nil
        }
        logger.error("taking no rooms until recordings can be written again", metadata: ["reason": "\(reason)"])
        try? client.post(RecorderState(accepting: false, reason: reason))
        guard first else { return }
        let root = configuration.recordingsRoot, minimumFree = configuration.minimumFreeBytes
        Task { [weak self] in
            while true {
                try? await Task.sleep(for: .seconds(2))
                guard let self else { return }
                guard Self.writeProblem(root: root, minimumFree: minimumFree) == nil else { continue }
                self.notAccepting.withLock { $0 = nil }
                self.logger.notice("recordings can be written again: taking rooms")
                try? self.client.post(RecorderState(accepting: true))
                return
            }
        }
    }

    /// A recording worker crashed or hung: its part is completed as interrupted, and a new worker
    /// continues the session as the next part, from the room as it is now. More than 5 losses in a
    /// minute and the bot gives the room up (the hub finds another recorder).
    private func continueAfterLoss(_ session: Session, lost: RecordingProcess, how: String) {
        logger.error("recording worker lost", metadata: ["room": "\(session.roomID)", "how": "\(how)", "directory": "\(lost.directory)"])
        do {
            if try AbandonedRecording.completeIfAbandoned(directory: lost.directory) {
                archive.index(manifestAt: lost.directory + "/manifest.json")
            }
        } catch {
            logger.error("cannot complete the lost part \(lost.directory): \(error)")
        }
        let now = ContinuousClock.now
        let next: (part: Int, giveUp: Bool)? = session.withState { state in
            guard !state.ended, state.recording === lost else { return nil }
            state.restarts = state.restarts.filter { now - $0 < .seconds(60) } + [now]
            state.part += 1
            return (state.part, state.restarts.count > 5)
        }
        guard let next else { return }
        guard !next.giveUp else {
            try? client.post(RecordingReport(roomID: session.roomID, status: .failed, reason: "its recording worker keeps failing (\(how))"))
            if sessions.withLock({ $0.removeValue(forKey: session.roomID) }) != nil { finishLater(session, reason: "recording worker keeps failing") }
            return
        }
        let recording: any SessionRecorder
        do {
            recording = try openPart(session.assignment, part: next.part, previousPart: (lost.directory as NSString).lastPathComponent)
        } catch {
            try? client.post(RecordingReport(roomID: session.roomID, status: .failed, reason: "cannot restart its recording worker: \(error)"))
            if sessions.withLock({ $0.removeValue(forKey: session.roomID) }) != nil { finishLater(session, reason: "cannot restart recording") }
            return
        }
        attach(session, recording)
        let videoTracks: [(String, String)] = session.withState { state in
            state.recording = recording
            for person in state.present { recording.participantJoined(id: person.id, name: person.name, role: person.role, colorHint: nil) }
            for track in state.tracks { recording.trackAnnounced(participantID: track.participant, trackID: track.track, parameters: track.parameters) }
            recording.record(event: TimelineEvent(kind: "recordingStatus", fields: [
                "status": "recording", "recorder": "recorder:\(configuration.userId)", "reason": "continued after the worker \(how)"]))
            return state.tracks.filter { $0.parameters.kind == .video }.map { ($0.participant, $0.track) }
        }
        // A new decoder starts at a keyframe.
        if let link = session.link.withLock({ $0 }) {
            for (participant, track) in videoTracks { link.requestKeyframe(participant: participant, track: track) }
        }
        logger.notice("recording continues in a new part", metadata: ["room": "\(session.roomID)", "part": "\(next.part)", "directory": "\(recording.directory)"])
    }

    /// Joins the room, then starts receiving its media.
    private func join(_ session: Session) async {
        do {
            try await client.request(JoinRoom(roomID: session.roomID))
        } catch {
            logger.error("cannot join room \(session.roomID): \(error)")
            if sessions.withLock({ $0.removeValue(forKey: session.roomID) }) != nil { finishLater(session, reason: "join refused") }
            return
        }
        session.link.withLock { $0 }?.start()
        session.recording.record(event: TimelineEvent(kind: "recordingStatus", fields: ["status": "recording", "recorder": "recorder:\(configuration.userId)"]))
        try? client.post(RecordingReport(roomID: session.roomID, status: .recording))
        logger.info("recording", metadata: ["room": "\(session.roomID)", "directory": "\(session.recording.directory)"])
    }

    static func isoTime(milliseconds: Int64) -> String { ISO8601.utcMilliseconds(Date(timeIntervalSince1970: Double(milliseconds) / 1000)) }

    private func finish(_ session: Session) {
        session.link.withLock { $0 }?.stop()
        do {
            archive.archive(try session.recording.finish(interruptedBy: nil), roomID: session.roomID)
        } catch {
            logger.error("recording of room \(session.roomID) failed: \(error)")
        }
    }
}
