import Digest
import Evidence
import Foundation
import Logging
import Media
import Synchronization

/// How a live recording is made and where it goes.
public struct RecordingConfiguration: Sendable, Codable {
    /// Root of all recordings; this one goes to `<root>/<yyyy-mm-dd>/<session-id>/`.
    public var root: String
    public var sessionID: String
    public var contactID: String
    public var layout: Layout
    public var width: Int32 = 1280
    public var height: Int32 = 720
    public var fps: Int32 = 30
    /// x264 preset of the composite. Live recordings default to `superfast`: talking-head tiles compress
    /// well anyway, and the CPU it saves over `veryfast` is what lets one bot record more sessions at once.
    public var preset: String = "superfast"
    public var crf: Int = 23
    /// Also keep each participant's original streams, remuxed without re-encoding (`tracks/*.ts`).
    public var keepTracks: Bool = false
    public var recorderVersion: String = "ctlive-recorder 0.1"
    /// How far behind the session clock the composite is made: the jitter buffer, in seconds.
    public var latency: Double = 0.5
    /// A composite further behind its schedule than this catches up by leaving pictures out (counted);
    /// nil draws every picture however late (a test feeding a manual clock unpaced wants each one).
    public var maximumBacklog: Double? = 0.3
    /// libx264 threads for the composite. One per recording: a live 720p30 encode fits in one core, and
    /// machines scale by recording many sessions side by side (0 lets x264 choose).
    public var encoderThreads: Int32 = 1
    /// libx264 tune of the composite. `zerolatency` (no B-frames, no lookahead) holds no pictures back:
    /// it halves the memory of a 720p live recording, for a slightly larger file.
    public var tune: String? = "zerolatency"
    /// Media packets the input queue holds before new ones are dropped (and counted).
    public var queueCapacity: Int = 2048
    /// Which part of the session this recording is, and the recorder of the one before (after a takeover).
    public var part: Int?
    public var previousRecorder: String?
    public var previousPart: String?
    /// An Ed25519 private key file (`ctlive keys --signing-key`): the recording is sealed while it is
    /// written (`seals.jsonl`, every 2 s) and its final manifest signed (`manifest.sig`).
    public var signingKey: String?

    public init(root: String = "Recordings", sessionID: String, contactID: String, layout: Layout = .grid) {
        self.root = root
        self.sessionID = sessionID
        self.contactID = contactID
        self.layout = layout
    }
}

/// What a finished recording left on disk.
public struct RecordingResult: Sendable, Codable {
    public var directory: String
    public var recordingPath: String
    public var manifestPath: String
    /// SHA-256 of `recordingPath`, hex (also in the manifest).
    public var sha256: String
    /// Seconds of media in the recording.
    public var duration: Double
    public var errors: RecordingErrorCounts
    /// The per-participant original streams, when `keepTracks` was set.
    public var keptTracks: [String]
    /// Longest time the composite fell behind its schedule (session clock minus latency), in seconds.
    /// Near one frame when the recorder keeps up with real time.
    public var maximumLag: Double
}

/// A recording fed live: participants, their tracks' packets and the session's events, as they happen.
///
/// Every method returns at once: the calls only stamp the session time and queue the work, which a worker
/// thread of this recording does (decode, composite, mix, encode, write). A full queue drops media packets
/// and counts them. Packets are untrusted: bad ones are dropped and counted, never fatal.
public final class LiveRecording: Sendable {
    private let queue: BoundedQueue<Input>
    private let shared: Shared
    private let clock: any SessionClock
    private let done = DispatchSemaphore(value: 0)
    /// Where this recording's files go.
    public let directory: String

    /// Called on the recorder's worker thread when the loudest participant changes (with hysteresis).
    /// Set it before packets flow.
    public var onLoudestChanged: (@Sendable (_ loudest: String, _ ranking: [String]) -> Void)? {
        get { shared.loudest.withLock { $0 } }
        set { shared.loudest.withLock { $0 = newValue } }
    }

    /// Called once, on the worker thread, when writing the recording fails (a full disk...): the
    /// composite stops there; the owner should say so and finish the recording.
    public var onWriteFailed: (@Sendable (MediaError) -> Void)? {
        get { shared.writeFailed.withLock { $0 } }
        set { shared.writeFailed.withLock { $0 = newValue } }
    }

    /// Called on the worker thread (at most once a second per track) when a track needs a keyframe to recover.
    public var onKeyframeNeeded: (@Sendable (_ participantID: String, _ trackID: String) -> Void)? {
        get { shared.keyframe.withLock { $0 } }
        set { shared.keyframe.withLock { $0 = newValue } }
    }

    /// Creates `<root>/<yyyy-mm-dd>/<session-id>/`, opens the recording, writes an in-progress manifest
    /// and starts the session clock.
    public convenience init(configuration: RecordingConfiguration, logger: Logger) throws {
        try self.init(configuration: configuration, clock: ContinuousSessionClock(), logger: logger)
    }

    /// As ``init(configuration:logger:)``, on a given clock (tests drive a ``ManualSessionClock``).
    public init(configuration: RecordingConfiguration, clock: any SessionClock, logger: Logger) throws {
        let day = DateFormatter()
        day.dateFormat = "yyyy-MM-dd"
        day.timeZone = TimeZone(identifier: "UTC")
        day.locale = Locale(identifier: "en_US_POSIX")
        let name = safeFileName(RecordingManifest.recordingID(session: configuration.sessionID, part: configuration.part))
        var directory = "\(configuration.root)/\(day.string(from: Date()))/\(name)"
        var suffix = 2
        while FileManager.default.fileExists(atPath: directory + "/recording.mp4") {  // never overwrite a recording
            directory = "\(configuration.root)/\(day.string(from: Date()))/\(name)-\(suffix)"
            suffix += 1
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var logger = logger
        logger[metadataKey: "session"] = "\(configuration.sessionID)"
        // Everything that can fail comes before the stored properties are set: a failed init never reaches
        // `deinit`, which would wait for a worker that never started.
        let shared = Shared()
        let worker = try RecordingWorker(configuration: configuration, directory: directory, clock: clock, shared: shared, logger: logger)
        let handoff = Handoff(worker: worker)
        let queue = BoundedQueue<Input>(capacity: configuration.queueCapacity)
        self.directory = directory
        self.clock = clock
        self.queue = queue
        self.shared = shared
        let done = self.done
        let thread = Thread {
            let result = handoff.worker.run(queue)
            shared.result.withLock { $0 = result }
            done.signal()
        }
        thread.name = "recorder-\(configuration.sessionID)"
        thread.start()
    }

    deinit {
        // Not finished by its owner: finish anyway, so the worker thread ends and the file is closed.
        if shared.result.withLock({ $0 == nil }) { _ = try? finish() }
    }

    /// A participant joined the room now.
    public func participantJoined(id: String, name: String, role: String, colorHint: RGB?) {
        control(.joined(id: id, name: name, role: role, color: colorHint, time: clock.now()))
    }

    /// A participant left the room now.
    public func participantLeft(id: String) { control(.left(id: id, time: clock.now())) }

    /// A participant announced a track; its packets follow.
    public func trackAnnounced(participantID: String, trackID: String, parameters: TrackParameters) {
        control(.track(participant: participantID, track: trackID, parameters: parameters, time: clock.now()))
    }

    /// Ends the recording now, without waiting: nothing after this instant is written, however late
    /// ``finish(interruptedBy:)`` (which waits for the file) runs on a busy machine. The first call counts.
    ///
    /// - Parameter interruption: why the recording stops before its session ends (the hub was lost,
    ///   say): the manifest then says `interrupted`, with this reason.
    public func end(interruptedBy interruption: String? = nil) {
        guard shared.ended.withLock({ ended in defer { ended = true }; return !ended }) else { return }
        control(.finish(time: clock.now(), interruption: interruption))
    }

    /// A packet arrived now. Untrusted: bad packets are dropped and counted.
    ///
    /// - Parameter capturedUs: when the publisher captured it (microseconds since 1970 on the
    ///   publisher's clock): a participant's tracks are placed by it relative to each other, so that its
    ///   audio and video stay in sync whatever their network or encoder delays.
    public func receive(participantID: String, trackID: String, packet: EncodedPacket, capturedUs: Int64? = nil) {
        let input = Input.packet(participant: participantID, track: trackID, packet: packet, capturedUs: capturedUs, time: clock.now())
        if !queue.push(input) { shared.droppedQueueFull.add(1, ordering: .relaxed) }
    }

    /// Adds an event to the manifest's timeline (stamped now when its time is nil).
    public func record(event: TimelineEvent) {
        var event = event
        if event.time == nil { event.time = clock.now() }
        control(.event(event))
    }

    /// Blocks until the worker has taken everything queued so far and rendered up to the current session time
    /// (less the latency). For tests driving a ``ManualSessionClock``, which cannot otherwise let time pass.
    public func waitForWorker() {
        let reached = DispatchSemaphore(value: 0)
        control(.barrier(reached))
        reached.wait()
    }

    /// Control inputs are rare and must not be lost: they may exceed the media capacity by a margin.
    private func control(_ input: Input) {
        if !queue.push(input, limit: queue.capacity + 4096) { shared.droppedQueueFull.add(1, ordering: .relaxed) }
    }

    /// Ends the recording now: writes what is buffered, closes the file, hashes it and writes the final manifest.
    /// Blocks until done. Calling it again returns the same result.
    ///
    /// - Parameter interruptedBy: why the recording stops before its session ends (the hub was lost, say):
    ///   the manifest then says `interrupted`, with this reason.
    /// ``end(interruptedBy:)`` it if that has not been done.
    public func finish(interruptedBy interruption: String? = nil) throws -> RecordingResult {
        if let result = shared.result.withLock({ $0 }) { return try result.get() }
        end(interruptedBy: interruption)
        done.wait()
        done.signal()  // let any other waiter through
        return try shared.result.withLock { $0! }.get()
    }
}

/// Inputs from the network thread to the worker.
enum Input: Sendable {
    case joined(id: String, name: String, role: String, color: RGB?, time: Double)
    case left(id: String, time: Double)
    case track(participant: String, track: String, parameters: TrackParameters, time: Double)
    case packet(participant: String, track: String, packet: EncodedPacket, capturedUs: Int64?, time: Double)
    case event(TimelineEvent)
    case finish(time: Double, interruption: String?)
    /// Signalled once the worker has rendered after taking it.
    case barrier(DispatchSemaphore)
}

/// State shared between the caller's threads and the worker: each piece is itself thread-safe.
final class Shared: Sendable {
    let droppedQueueFull = Atomic<Int>(0)
    let loudest = Mutex<(@Sendable (String, [String]) -> Void)?>(nil)
    let keyframe = Mutex<(@Sendable (String, String) -> Void)?>(nil)
    let writeFailed = Mutex<(@Sendable (MediaError) -> Void)?>(nil)
    let ended = Mutex(false)
    let result = Mutex<Result<RecordingResult, MediaError>?>(nil)
}

/// Moves the worker to its thread. `@unchecked Sendable`: the creating thread never touches the worker after the handoff.
private final class Handoff: @unchecked Sendable {
    let worker: RecordingWorker
    init(worker: RecordingWorker) { self.worker = worker }
}

/// The recording's worker: owns the pipeline, the manifest and the kept tracks; runs on one thread.
final class RecordingWorker {
    private let configuration: RecordingConfiguration
    private let directory: String
    private let clock: any SessionClock
    private let shared: Shared
    private let logger: Logger
    private let pipeline: SessionPipeline
    private var manifest: RecordingManifest
    private var parameters: [String: TrackParameters] = [:]  // "participant/track"
    private var archives: [String: (muxer: Muxer, stream: Int)] = [:]
    private var lastKeyframeRequest: [String: Double] = [:]
    private var writeFailure: MediaError?
    private var manifestDirty = false
    private var lastManifestWrite = 0.0
    private var extraErrors = RecordingErrorCounts()  // counted here rather than in the pipeline
    /// Held while writing: a reader that can take it knows the writer is gone (``WriterLock``).
    private var writerLock: WriterLock?
    /// Seals the file as it grows, and signs the final manifest, when the recording has a key.
    private let sealer: Sealer?
    private let key: SigningKey?
    private var lastSeal = 0.0
    static let sealInterval = 2.0

    private var recordingPath: String { directory + "/recording.mp4" }
    private var manifestPath: String { directory + "/manifest.json" }

    init(configuration: RecordingConfiguration, directory: String, clock: any SessionClock, shared: Shared, logger: Logger) throws {
        self.configuration = configuration
        self.directory = directory
        self.clock = clock
        self.shared = shared
        self.logger = logger
        var settings = OutputSettings(
            width: configuration.width, height: configuration.height, fps: configuration.fps, layout: configuration.layout,
            preset: configuration.preset, crf: configuration.crf)
        settings.encoderThreads = configuration.encoderThreads
        settings.tune = configuration.tune
        key = try configuration.signingKey.map { try SigningKey.load(path: $0) }
        sealer = key.map {
            Sealer(recordingPath: directory + "/recording.mp4",
                   recordingID: RecordingManifest.recordingID(session: configuration.sessionID, part: configuration.part), key: $0)
        }
        let writer = try RecordingWriter(path: directory + "/recording.mp4", settings: settings)
        pipeline = try SessionPipeline(settings: settings, writer: writer, logger: logger)
        manifest = RecordingManifest(
            session: configuration.sessionID, contact: configuration.contactID, recorderVersion: configuration.recorderVersion,
            wallClockStart: RecordingManifest.timestamp(), width: settings.width & ~1, height: settings.height & ~1, fps: settings.fps,
            layout: configuration.layout)
        manifest.part = configuration.part
        manifest.previousRecorder = configuration.previousRecorder
        manifest.previousPart = configuration.previousPart
        writerLock = try WriterLock(directory: directory)
        pipeline.onEvent = { [unowned self] in self.handle($0) }
        try manifest.write(to: manifestPath)
        logger.info("recording to \(directory)")
    }

    /// The worker loop: take inputs, place them, render what is due, until asked to finish.
    func run(_ queue: BoundedQueue<Input>) -> Result<RecordingResult, MediaError> {
        let tick = 1 / Double(max(1, configuration.fps))
        while true {
            let now = clock.now()  // read before draining: everything that arrived by `now` is in the batch
            var barriers: [DispatchSemaphore] = []
            for input in queue.popAll(timeout: tick) {
                switch input {
                case .finish(let end, let interruption): return finish(at: end, interruption: interruption)
                case .barrier(let reached): barriers.append(reached)
                default: handle(input)
                }
            }
            if writeFailure == nil {
                let due = now - configuration.latency
                do { try pipeline.render(upTo: due, dropBefore: configuration.maximumBacklog.map { due - $0 }) } catch { failed(error) }
                manifest.maximumLag = max(manifest.maximumLag, clock.now() - configuration.latency - pipeline.nextOutputTime)
            }
            for reached in barriers { reached.signal() }
            if manifestDirty && now - lastManifestWrite >= 1 { writeManifest(now) }
            if let sealer, writeFailure == nil, now - lastSeal >= Self.sealInterval {
                lastSeal = now
                do { try sealer.seal() } catch { failed(MediaError(operation: "seal", message: "\(error)")) }
            }
        }
    }

    private func key(_ participant: String, _ track: String) -> String { participant + "/" + track }

    private func handle(_ input: Input) {
        switch input {
        case .joined(let id, let name, let role, let color, let time):
            guard !manifest.participants.contains(where: { $0.id == id && $0.leftAt == nil }) else {
                logger.warning("\(id) joined twice: ignored")
                return
            }
            let color = color ?? Composer.palette[manifest.participants.count % Composer.palette.count]
            manifest.participants.append(.init(id: id, name: name, role: role, color: color.description, joinedAt: time))
            manifest.events.append(TimelineEvent(kind: "join", time: time, fields: ["participant": id, "name": name, "role": role]))
            pipeline.join(id: id, color: color, at: time)
            writeManifest(time)
        case .left(let id, let time):
            guard let index = manifest.participants.lastIndex(where: { $0.id == id && $0.leftAt == nil }) else {
                extraErrors.unknownTrack += 1
                return
            }
            manifest.participants[index].leftAt = time
            manifest.events.append(TimelineEvent(kind: "leave", time: time, fields: ["participant": id]))
            pipeline.leave(id: id, at: time)
            writeManifest(time)
        case .track(let participant, let track, let parameters, let time):
            announce(participant, track, parameters, time)
        case .packet(let participant, let track, let packet, let capturedUs, let time):
            accept(participant, track, packet, capturedUs, time)
        case .event(let event):
            manifest.events.append(event)
            manifestDirty = true
        case .finish, .barrier:
            break
        }
    }

    private func announce(_ participant: String, _ track: String, _ parameters: TrackParameters, _ time: Double) {
        guard let index = manifest.participants.lastIndex(where: { $0.id == participant && $0.leftAt == nil }) else {
            extraErrors.unknownTrack += 1
            return
        }
        guard parameters.codec.kind == parameters.kind, parameters.timeBaseNum > 0, parameters.timeBaseDen > 0 else {
            problem("track \(participant)/\(track): inconsistent parameters \(parameters.kind)/\(parameters.codec)")
            pipeline.countError(\.undecodableTracks)
            return
        }
        var entry = RecordingManifest.Track(
            id: track, kind: parameters.kind, codec: parameters.codec,
            width: parameters.kind == .video ? parameters.width : nil, height: parameters.kind == .video ? parameters.height : nil,
            sampleRate: parameters.kind == .audio ? parameters.sampleRate : nil, channels: parameters.kind == .audio ? parameters.channels : nil,
            announcedAt: time)
        do {
            let decoder = try Decoder(parameters: parameters)
            pipeline.addTrack(participant: participant, track: track, kind: parameters.kind, decoder: decoder, timeBase: parameters.timeBase)
            self.parameters[key(participant, track)] = parameters
        } catch {
            problem("track \(participant)/\(track) cannot be decoded: \(error)")
            pipeline.countError(\.undecodableTracks)
        }
        if configuration.keepTracks {
            let name = "tracks/\(safeFileName(participant))-\(safeFileName(track)).ts"
            do {
                try FileManager.default.createDirectory(atPath: directory + "/tracks", withIntermediateDirectories: true)
                let muxer = try Muxer(path: directory + "/" + name, format: "mpegts")
                archives[key(participant, track)] = (muxer, try muxer.addStream(parameters: parameters))
                entry.keptFile = name
            } catch {
                extraErrors.keptTrackErrors += 1
                problem("cannot keep track \(participant)/\(track): \(error)")
            }
        }
        manifest.participants[index].tracks.append(entry)
        manifestDirty = true
    }

    private func accept(_ participant: String, _ track: String, _ encoded: EncodedPacket, _ capturedUs: Int64?, _ time: Double) {
        let trackKey = key(participant, track)
        guard let parameters = parameters[trackKey], pipeline.hasTrack(participant: participant, track: track) else {
            extraErrors.unknownTrack += 1
            return
        }
        guard PacketCheck.isPlausible(encoded.data, parameters) else {
            pipeline.countError(\.malformedPackets)
            requestKeyframe(participant, track, time)
            return
        }
        if let index = manifest.participants.lastIndex(where: { $0.id == participant }),
            let t = manifest.participants[index].tracks.lastIndex(where: { $0.id == track })
        {
            manifest.participants[index].tracks[t].packets += 1
            manifest.participants[index].tracks[t].bytes += encoded.data.count
        }
        if let archive = archives[trackKey] {
            do { try archive.muxer.write(try Packet(encoded), stream: archive.stream) } catch {
                extraErrors.keptTrackErrors += 1
                if extraErrors.keptTrackErrors <= 5 { logger.warning("kept track \(trackKey): \(error)") }
            }
        }
        do {
            pipeline.push(try Packet(encoded), participant: participant, track: track, arrival: time,
                          captured: capturedUs.map { Double($0) / 1e6 }, checkDrift: true)
        } catch {
            pipeline.countError(\.malformedPackets)
        }
    }

    private func handle(_ event: PipelineEvent) {
        switch event {
        case .layoutChanged(let time, let layout, let tiles):
            manifest.layoutChanges.append(.init(time: time, layout: layout, tiles: tiles))
            manifestDirty = true
        case .loudestChanged(let time, let loudest, let ranking):
            manifest.events.append(TimelineEvent(kind: "loudest", time: time, fields: ["participant": loudest, "ranking": ranking.joined(separator: ",")]))
            manifestDirty = true
            shared.loudest.withLock { $0 }?(loudest, ranking)
        case .keyframeNeeded(let participant, let track):
            requestKeyframe(participant, track, clock.now())
        }
    }

    private func requestKeyframe(_ participant: String, _ track: String, _ time: Double) {
        let trackKey = key(participant, track)
        guard time - (lastKeyframeRequest[trackKey] ?? -10) >= 1 else { return }
        lastKeyframeRequest[trackKey] = time
        shared.keyframe.withLock { $0 }?(participant, track)
    }

    private func problem(_ text: String) {
        logger.error("\(text)")
        if manifest.problems.count < 100 { manifest.problems.append(text) }
        manifestDirty = true
    }

    private func failed(_ error: Error) {
        let failure = error as? MediaError ?? MediaError(operation: "recording", message: "\(error)")
        writeFailure = failure
        extraErrors.writeErrors += 1
        problem("writing the recording failed, the composite stops here: \(failure)")
        writeManifest(clock.now())
        shared.writeFailed.withLock { $0 }?(failure)
    }

    private var errors: RecordingErrorCounts {
        var total = pipeline.errors
        total.droppedQueueFull = shared.droppedQueueFull.load(ordering: .relaxed)
        total.unknownTrack += extraErrors.unknownTrack
        total.writeErrors += extraErrors.writeErrors
        total.keptTrackErrors += extraErrors.keptTrackErrors
        return total
    }

    /// Writes the manifest; returns whether it could (a full disk may refuse it: the failure is counted).
    @discardableResult
    private func writeManifest(_ now: Double) -> Bool {
        manifest.errors = errors
        manifestDirty = false
        lastManifestWrite = now
        do {
            try manifest.write(to: manifestPath)
            return true
        } catch {
            extraErrors.writeErrors += 1
            if extraErrors.writeErrors <= 5 { logger.error("cannot write \(manifestPath): \(error)") }
            return false
        }
    }

    /// The final manifest is the recording's truth: on a full disk, it is tried again for a while
    /// (space often returns: a purge, an operator), so that how the recording ended is not lost.
    private func writeFinalManifest(_ end: Double) {
        let deadline = ContinuousClock.now + .seconds(30)
        while !writeManifest(end) && ContinuousClock.now < deadline {
            manifest.errors = errors
            Thread.sleep(forTimeInterval: 0.5)
        }
    }

    private func finish(at end: Double, interruption: String?) -> Result<RecordingResult, MediaError> {
        if writeFailure == nil {
            do { try pipeline.finish(at: end) } catch { failed(error) }
        }
        for (trackKey, archive) in archives {
            do { try archive.muxer.finish() } catch {
                extraErrors.keptTrackErrors += 1
                logger.warning("kept track \(trackKey): \(error)")
            }
        }
        archives.removeAll()
        for index in manifest.participants.indices where manifest.participants[index].leftAt == nil { manifest.participants[index].leftAt = end }
        manifest.wallClockEnd = RecordingManifest.timestamp()
        manifest.durationSeconds = pipeline.writtenDuration
        for summary in errors.summaries { problem(summary) }
        var sha = ""
        if let sealer {
            // The last seal covers the whole file: its hash is the file's, with no second pass over it.
            do { sha = try sealer.seal() } catch { problem("cannot seal the recording: \(error)") }
        } else {
            do { sha = try SHA256.hex(ofFileAt: recordingPath) } catch { problem("cannot hash the recording: \(error)") }
        }
        manifest.sha256 = sha.isEmpty ? nil : sha
        manifest.status = writeFailure != nil ? "failed" : interruption != nil ? "interrupted" : "finished"
        manifest.interruption = writeFailure == nil ? interruption : nil
        writeFinalManifest(end)
        if let key {
            do {
                let signed = try ManifestSignature.sign(directory: directory, key: key)
                _ = try Chain.append(root: configuration.root, key: key, recording: manifest.recordingID, manifestSHA256: signed)
            } catch {
                logger.error("cannot sign the manifest or extend the chain: \(error)")
            }
        }
        writerLock = nil
        logger.info("recording finished: \(String(format: "%.2f", pipeline.writtenDuration)) s, errors \(errors.total)")
        if let writeFailure { return .failure(writeFailure) }
        return .success(
            RecordingResult(
                directory: directory, recordingPath: recordingPath, manifestPath: manifestPath, sha256: sha,
                duration: pipeline.writtenDuration, errors: errors,
                keptTracks: manifest.participants.flatMap { $0.tracks.compactMap { $0.keptFile.map { directory + "/" + $0 } } },
                maximumLag: manifest.maximumLag))
    }
}

/// What a recording's owner is told, on the recording's own thread.
public struct RecordingHandlers: Sendable {
    /// The loudest participant changed (with hysteresis): its id and the ranking.
    public var loudestChanged: (@Sendable (_ loudest: String, _ ranking: [String]) -> Void)?
    /// A track needs a keyframe to recover (at most once a second per track).
    public var keyframeNeeded: (@Sendable (_ participantID: String, _ trackID: String) -> Void)?
    /// Writing failed (a full disk...): the composite stopped there.
    public var writeFailed: (@Sendable (_ reason: String) -> Void)?

    public init() {}
}

/// A session's recording as its owner drives it: in this process (``LiveRecording``) or in a worker
/// process of its own (`IsolatedRecording.RecordingProcess`). Every call returns at once but the finish.
public protocol SessionRecorder: AnyObject, Sendable {
    /// Where this recording's files go.
    var directory: String { get }
    func setHandlers(_ handlers: RecordingHandlers)
    func participantJoined(id: String, name: String, role: String, colorHint: RGB?)
    func participantLeft(id: String)
    func trackAnnounced(participantID: String, trackID: String, parameters: TrackParameters)
    func receive(participantID: String, trackID: String, packet: EncodedPacket, capturedUs: Int64?)
    func record(event: TimelineEvent)
    func end(interruptedBy interruption: String?)
    func finish(interruptedBy interruption: String?) throws -> RecordingResult
}

extension LiveRecording: SessionRecorder {
    public func setHandlers(_ handlers: RecordingHandlers) {
        onLoudestChanged = handlers.loudestChanged
        onKeyframeNeeded = handlers.keyframeNeeded
        onWriteFailed = handlers.writeFailed.map { writeFailed in { @Sendable error in writeFailed("\(error)") } }
    }
}
