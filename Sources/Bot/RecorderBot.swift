import Catalog
import ChildProcess
import CTLive
import CTLiveMedia
import Evidence
import FleetCatalog
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
    let logger: Logger
    let client: CTLiveClient
    /// Answers requests for agents (nil: no policy).
    let delegate: PolicyDelegate?
    /// Review pages and the catalog for finished recordings.
    let archive: RecordingArchive
    /// How busy the machine is: `auto` composites are live only with headroom.
    let load = MachineLoad()
    /// The command that renders a queued composite: `ctlive render-composite --directory DIR`.
    public static let rendererSubcommand = "render-composite"
    let sessions = Mutex<[String: Session]>([:])
    /// Recordings being finished off the I/O thread; ``stop()`` waits for them.
    let finishing = DispatchGroup()
    /// Why the bot takes no rooms now (it cannot write), nil while it does.
    let notAccepting = Mutex<String?>(nil)
    /// Recording reports the client refused to send (the hub was away): sent again on reconnection.
    let unsentReports = Mutex<[RecordingReport]>([])
    let stopped = Mutex(false)
    /// The spool's uploads to the object store, while running.
    let uploads = Mutex<Task<Void, Never>?>(nil)
    /// The outbox's drain into the fleet catalog, and the fleet's render jobs this bot takes, while running.
    let fleetTasks = Mutex<[Task<Void, Never>]>([])
    /// The chain head last handed to the hub, and when.
    let lastCheckpoint = Mutex<(seq: Int, at: ContinuousClock.Instant)?>(nil)

    /// A room being recorded: the part being written now, and what a new part needs to start from.
    final class Session: Sendable {
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
    func compositeMode() -> CompositeMode {
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
        if configuration.records, let problem = takingProblem() {
            stopAccepting(because: problem)
        }
        if configuration.records { reportLoadEvery(Self.loadReportInterval) }
        if configuration.records, let spool = configuration.spool {
            archive.onStored { spool.wake() }
            // Where its files are now is the catalog's to know, here and in the fleet's.
            spool.onRecordingStored { [archive, logger] relative in
                do { try archive.catalog?.enqueueForFleet(directory: relative) } catch { logger.error("cannot queue \(relative) for the fleet catalog: \(error)") }
            }
            uploads.withLock { $0 = Task { await spool.run() } }
        }
        if configuration.records, let url = configuration.fleetCatalog, let local = archive.catalog {
            do {
                let sync = try FleetSync(local: local, url: url, checkpoint: { [weak self] in self?.fleetCheckpoint() }, logger: logger)
                fleetTasks.withLock { $0.append(Task { await sync.run() }) }
            } catch {
                logger.error("no fleet catalog: \(error)")
            }
            startFleetRenders(catalog: url)
        }
    }

    /// Takes the fleet's render jobs while this bot has headroom (with `--catalog` and `--storage`, unless
    /// `--no-fleet-renders`).
    private func startFleetRenders(catalog url: String) {
        guard configuration.rendersFleetComposites, let spool = configuration.spool else { return }
        guard let renderer = configuration.recordingWorker.map({ [$0[0], RecorderBot.rendererSubcommand] }) else {
            logger.notice("no fleet renders: this bot records in its own process, without a ctlive executable to render with")
            return
        }
        do {
            let worker = try RenderWorker(catalog: url, store: spool.store, worker: configuration.userId, renderer: renderer,
                                          signingKey: configuration.signingKey, logger: logger)
            fleetTasks.withLock { $0.append(Task { await worker.run(idle: .seconds(5)) { [weak self] in self?.hasRenderHeadroom ?? false } }) }
        } catch {
            logger.error("no fleet renders: \(error)")
        }
    }

    /// Whether this bot may render a composite recorded elsewhere now: it records no room (its own rooms come first:
    /// a render would make their `auto` composites deferred and send the hub's rooms elsewhere), none of its own
    /// composites waits, it can take rooms (no full disk, no full spool: then its store may be down too), and the
    /// machine has headroom.
    var hasRenderHeadroom: Bool {
        sessions.withLock { $0.isEmpty } && archive.compositesQueued == 0 && notAccepting.withLock { $0 == nil } && load.hasHeadroom
    }

    /// How often the bot tells the hub its load.
    static let loadReportInterval: Duration = .seconds(5)

    /// Tells the hub, every `interval` while connected, how busy this machine is and how many composites
    /// wait: the hub gives rooms by headroom.
    func reportLoadEvery(_ interval: Duration) {
        Task { [weak self] in
            while let self, !Task.isCancelled, !stopped.withLock({ $0 }) {
                if notAccepting.withLock({ $0 }) == nil, let problem = takingProblem() { stopAccepting(because: problem) }
                let reason = notAccepting.withLock { $0 }
                send(RecorderState(accepting: reason == nil, reason: reason, load: min(1, max(0, load.busy())), queuedComposites: archive.compositesQueued))
                checkpointChain()
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// Finishes every recording under way and leaves the hub.
    public func stop() async {
        stopped.withLock { $0 = true }
        await client.close()
        for session in sessions.withLock({ state in defer { state.removeAll() }; return Array(state.values) }) {
            finishLater(session, reason: "bot stopped")
        }
        await withCheckedContinuation { continuation in finishing.notify(queue: .global()) { continuation.resume() } }
        // The spool stays on disk: a bot started again goes on uploading where this one stopped.
        uploads.withLock { $0 }?.cancel()
        for task in fleetTasks.withLock({ $0 }) { task.cancel() }
    }

    /// Finishes a recording on another thread: finishing flushes and hashes the file, too slow for the I/O thread.
    /// The recording ends at once, when the end is learnt; writing out and indexing follow on another thread.
    func finishLater(_ session: Session, reason: String, interrupted: Bool = false) {
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
    func handle(_ event: ClientEvent) {
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
            case "onPrivacyChanged":
                // "The agent muted at 03:12" belongs in the record.
                guard let p = participantEvent.participant, let privacy = participantEvent.privacy else { return }
                session.recording.record(event: TimelineEvent(kind: "privacy", fields: [
                    "participant": p.id, "microphone": privacy.microphone ? "off" : "on", "camera": privacy.camera ? "off" : "on"]))
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
            if let reason = notAccepting.withLock({ $0 }) { send(RecorderState(accepting: false, reason: reason)) }
            for unsent in unsentReports.withLock({ reports in defer { reports.removeAll() }; return reports }) { report(unsent) }
        default:
            break
        }
    }

    func session(room roomID: String) -> Session? { sessions.withLock { $0[roomID] } }

    /// Tells the hub how a room's recording stands. A report the client cannot send now (the hub is
    /// away) is logged and sent again when the bot reconnects: a `failed` must not be lost.
    func report(_ message: RecordingReport) {
        do { try client.post(message) } catch {
            logger.warning("cannot report the recording of \(message.roomID) yet; again on reconnection", metadata: ["error": "\(error)"])
            unsentReports.withLock { reports in
                reports.append(message)
                if reports.count > 1024 { reports.removeFirst(reports.count - 1024) }  // bounded: the newest matter most
            }
        }
    }

    /// Sends a message whose loss only costs freshness (a state the bot says again, a speaker ranking): logged.
    /// Hands the hub the head of this bot's evidence chain, signed: when it has moved (a recording finished, a
    /// completion), and at least once a minute. A hub run as a witness cosigns and keeps it, so that a chain's
    /// newest entries cannot be cut off unseen (docs/EVIDENCE.md, *Checkpoints*).
    func checkpointChain() {
        let now = ContinuousClock.now
        guard let checkpoint = chainCheckpoint() else { return }
        let due = lastCheckpoint.withLock { last in
            guard last.map({ $0.seq != checkpoint.seq || now - $0.at >= .seconds(60) }) ?? true else { return false }
            last = (checkpoint.seq, now)
            return true
        }
        guard due else { return }
        send(ChainCheckpointMessage(keyID: checkpoint.keyID, seq: checkpoint.seq, head: checkpoint.head, time: checkpoint.time,
                                    signature: checkpoint.signature))
    }

    /// The head of this bot's evidence chain, signed now; nil without a signing key or an entry yet.
    func chainCheckpoint() -> ChainCheckpoint? {
        guard let key = archive.completer?.key else { return nil }
        return try? ChainCheckpoint.make(root: configuration.recordingsRoot, key: key)
    }

    /// The checkpoint for the fleet catalog: with object storage, of the chain as the store holds it (the local chain
    /// may be ahead of it while uploads wait, and a checkpoint ahead of the store's chain would look like a cut one).
    func fleetCheckpoint() -> ChainCheckpoint? {
        guard let spool = configuration.spool else { return chainCheckpoint() }
        guard let key = archive.completer?.key, let head = spool.storedChainHead(keyID: key.keyID) else { return nil }
        return try? ChainCheckpoint.make(head: head, key: key)
    }

    func send(_ message: some WireMessage) {
        do { try client.post(message) } catch {
            logger.notice("cannot send \(type(of: message)) to the hub", metadata: ["error": "\(error)"])
        }
    }

}
