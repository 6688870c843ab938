import Digest
import Evidence
import Foundation
import Logging
import Media

/// A live recording's worker, on a thread of its own: it keeps the record (the originals, their seals,
/// the manifest), measures who speaks, and feeds the live composite when there is one.
///
/// Nothing here waits for the composite: it runs on its own thread and gives up (to be rendered from
/// the originals later) rather than hold the record back.
final class RecordingWorker {
    private let configuration: RecordingConfiguration
    private let directory: String
    private let clock: any SessionClock
    private let shared: Shared
    private let logger: Logger
    private let originals: OriginalsWriter
    private var placement = SessionPlacement()
    private var meter = SpeakerMeter()
    private var composite: LiveComposite?
    private var compositeReason: String?
    private var manifest: RecordingManifest
    private var tracks: [String: OriginalsTrack] = [:]  // "participant/track"
    private var summary: [OriginalsSummary.Track] = []
    private var lastKeyframeRequest: [String: Double] = [:]
    private var writeFailure: MediaError?
    private var manifestDirty = false
    private var lastManifestWrite = 0.0
    private var errors = RecordingErrorCounts()
    /// Held while writing: a reader that can take it knows the writer is gone (``WriterLock``).
    private var writerLock: WriterLock?
    /// Seals the originals as they grow, and signs the final manifest, when the recording has a key.
    private let sealer: Sealer?
    private let key: SigningKey?
    private var lastSeal = 0.0
    static let sealInterval = 2.0
    /// How often the speaker meter closes an interval.
    static let meterInterval = 0.05
    private var lastMeter = 0.0

    private var originalsPath: String { directory + "/" + OriginalsFile.fileName }
    private var compositePath: String { directory + "/" + CompositeState.fileName }
    private var manifestPath: String { directory + "/manifest.json" }
    private var recordingID: String { RecordingManifest.recordingID(session: configuration.sessionID, part: configuration.part) }

    init(configuration: RecordingConfiguration, directory: String, clock: any SessionClock, shared: Shared, logger: Logger) throws {
        self.configuration = configuration
        self.directory = directory
        self.clock = clock
        self.shared = shared
        self.logger = logger
        let recordingID = RecordingManifest.recordingID(session: configuration.sessionID, part: configuration.part)
        key = try configuration.signingKey.map { try SigningKey.load(path: $0) }
        sealer = key.map { Sealer(recordingPath: directory + "/" + OriginalsFile.fileName, recordingID: recordingID, key: $0) }
        let started = RecordingManifest.timestamp()
        originals = try OriginalsWriter(
            path: directory + "/" + OriginalsFile.fileName,
            header: OriginalsHeader(recording: recordingID, session: configuration.sessionID, part: configuration.part, wallClockStart: started))
        let settings = configuration.compositeSettings
        manifest = RecordingManifest(
            session: configuration.sessionID, contact: configuration.contactID, recorderVersion: configuration.recorderVersion,
            wallClockStart: started, width: settings.width, height: settings.height, fps: settings.fps, layout: configuration.layout)
        manifest.part = configuration.part
        manifest.previousRecorder = configuration.previousRecorder
        manifest.previousPart = configuration.previousPart
        if configuration.composite == .live || configuration.composite == .auto {
            let shared = self.shared
            composite = try LiveComposite(
                path: directory + "/" + CompositeState.fileName, settings: settings, latency: configuration.latency,
                maximumLag: configuration.maximumCompositeLag, clock: clock,
                onKeyframeNeeded: { participant, track in shared.keyframe.withLock { $0 }?(participant, track) }, logger: logger)
        }
        manifest.composite = compositeState(composite != nil ? "live" : configuration.composite == .onDemand ? "on-demand" : "queued")
        writerLock = try WriterLock(directory: directory)
        try manifest.write(to: manifestPath)
        logger.info("recording to \(directory)")
    }

    private func compositeState(_ state: String) -> CompositeState {
        CompositeState(state: state, path: CompositeState.fileName, mode: composite != nil ? "live" : "after",
                       settings: configuration.compositeSettings, renderer: CompositeRenderer.version)
    }

    /// The worker loop: take inputs and keep them, until asked to finish.
    func run(_ queue: BoundedQueue<Input>) -> Result<RecordingResult, MediaError> {
        while true {
            let now = clock.now()  // read before draining: everything that arrived by `now` is in the batch
            var barriers: [DispatchSemaphore] = []
            for input in queue.popAll(timeout: 1 / Double(max(1, configuration.fps))) {
                switch input {
                case .finish(let end, let interruption): return finish(at: end, interruption: interruption)
                case .barrier(let reached): barriers.append(reached)
                default: handle(input)
                }
            }
            composite?.send(.advance(time: now))
            if !barriers.isEmpty { composite?.barrier() }
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
            keep { try originals.record(OriginalsMembership(event: "join", participant: id, name: name, role: role, color: color.description, time: time)) }
            composite?.send(.join(id: id, color: color, time: time))
            writeManifest(time)
        case .left(let id, let time):
            guard let index = manifest.participants.lastIndex(where: { $0.id == id && $0.leftAt == nil }) else {
                errors.unknownTrack += 1
                return
            }
            manifest.participants[index].leftAt = time
            manifest.events.append(TimelineEvent(kind: "leave", time: time, fields: ["participant": id]))
            keep { try originals.record(OriginalsMembership(event: "leave", participant: id, time: time)) }
            placement.removeParticipant(id)
            meter.removeParticipant(id)
            tracks = tracks.filter { !$0.key.hasPrefix(id + "/") }
            composite?.send(.leave(id: id, time: time))
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

    private func announce(_ participant: String, _ trackID: String, _ parameters: TrackParameters, _ time: Double) {
        guard let index = manifest.participants.lastIndex(where: { $0.id == participant && $0.leftAt == nil }) else {
            errors.unknownTrack += 1
            return
        }
        guard parameters.codec.kind == parameters.kind, parameters.timeBaseNum > 0, parameters.timeBaseDen > 0,
            parameters.extradata.count <= 1 << 16
        else {
            problem("track \(participant)/\(trackID): inconsistent parameters \(parameters.kind)/\(parameters.codec)")
            errors.undecodableTracks += 1
            return
        }
        let track = OriginalsTrack(number: summary.count + 1, participant: participant, track: trackID, parameters: parameters)
        guard keep({ try originals.announce(track) }) else { return }
        tracks[key(participant, trackID)] = track
        summary.append(.init(number: track.number, participant: participant, track: trackID, kind: parameters.kind, codec: parameters.codec, packets: 0, bytes: 0))
        placement.addTrack(participant: participant, track: trackID, timeBase: parameters.timeBase)
        do { try meter.addTrack(participant: participant, track: trackID, parameters: parameters) } catch {
            problem("track \(participant)/\(trackID) cannot be decoded for its levels: \(error)")
        }
        composite?.send(.track(participant: participant, track: trackID, parameters: parameters))
        manifest.participants[index].tracks.removeAll { $0.id == trackID }
        manifest.participants[index].tracks.append(RecordingManifest.Track(
            id: trackID, kind: parameters.kind, codec: parameters.codec,
            width: parameters.kind == .video ? parameters.width : nil, height: parameters.kind == .video ? parameters.height : nil,
            sampleRate: parameters.kind == .audio ? parameters.sampleRate : nil, channels: parameters.kind == .audio ? parameters.channels : nil,
            announcedAt: time, number: track.number))
        manifestDirty = true
    }

    private func accept(_ participant: String, _ trackID: String, _ packet: EncodedPacket, _ capturedUs: Int64?, _ arrival: Double) {
        guard let track = tracks[key(participant, trackID)] else {
            errors.unknownTrack += 1
            return
        }
        guard PacketCheck.isPlausible(packet.data, track.parameters) else {
            errors.malformedPackets += 1
            requestKeyframe(participant, trackID, arrival)
            return
        }
        guard let placed = placement.place(participant: participant, track: trackID, ticks: packet.pts, arrival: arrival,
                                           captured: capturedUs.map { Double($0) / 1e6 })
        else {
            errors.unknownTrack += 1
            return
        }
        guard writeFailure == nil, keep({ try originals.write(OriginalsPacket(track: track.number, packet: packet, placed: placed, arrival: arrival, capturedUs: capturedUs)) })
        else { return }
        summary[track.number - 1].packets += 1
        summary[track.number - 1].bytes += packet.data.count
        if let index = manifest.participants.lastIndex(where: { $0.id == participant }),
            let t = manifest.participants[index].tracks.lastIndex(where: { $0.id == trackID })
        {
            manifest.participants[index].tracks[t].packets += 1
            manifest.participants[index].tracks[t].bytes += packet.data.count
        }
        if track.parameters.kind == .audio { meter.measure(participant: participant, track: trackID, packet: packet) }
        measureSpeakers(at: arrival)
        composite?.send(.packet(participant: participant, track: trackID, packet: packet, placed: placed))
    }

    /// Closes the speaker meter's interval when one is due: by the packets' arrival times, so that who
    /// spoke when does not depend on how the worker's thread was scheduled.
    private func measureSpeakers(at time: Double) {
        guard time - lastMeter >= Self.meterInterval else { return }
        lastMeter = time
        guard let (loudest, ranking) = meter.update(time: time) else { return }
        manifest.events.append(TimelineEvent(kind: "loudest", time: time, fields: ["participant": loudest, "ranking": ranking.joined(separator: ",")]))
        manifestDirty = true
        shared.loudest.withLock { $0 }?(loudest, ranking)
    }

    /// Runs a write to the originals; a failure fails the recording (once) and returns false.
    @discardableResult
    private func keep(_ write: () throws -> Void) -> Bool {
        guard writeFailure == nil else { return false }
        do {
            try write()
            return true
        } catch {
            failed(error)
            return false
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
        guard writeFailure == nil else { return }
        let failure = error as? MediaError ?? MediaError(operation: "recording", message: "\(error)")
        writeFailure = failure
        errors.writeErrors += 1
        problem("writing the originals failed, the recording stops here: \(failure)")
        writeManifest(clock.now())
        shared.writeFailed.withLock { $0 }?(failure)
    }

    private var totalErrors: RecordingErrorCounts {
        var total = errors
        total.droppedQueueFull = shared.droppedQueueFull.load(ordering: .relaxed)
        total.resyncs = placement.resyncs
        return total
    }

    private var originalsSummary: OriginalsSummary {
        OriginalsSummary(path: OriginalsFile.fileName, format: OriginalsFile.containerName, bytes: originals.bytes, sha256: manifest.sha256, tracks: summary)
    }

    /// Writes the manifest; returns whether it could (a full disk may refuse it: the failure is counted).
    @discardableResult
    private func writeManifest(_ now: Double) -> Bool {
        manifest.errors = totalErrors
        manifest.originals = originalsSummary
        manifest.durationSeconds = now
        manifestDirty = false
        lastManifestWrite = now
        do {
            try manifest.write(to: manifestPath)
            return true
        } catch {
            errors.writeErrors += 1
            if errors.writeErrors <= 5 { logger.error("cannot write \(manifestPath): \(error)") }
            return false
        }
    }

    /// The final manifest is the recording's truth: on a full disk, it is tried again for a while
    /// (space often returns: a purge, an operator), so that how the recording ended is not lost.
    private func writeFinalManifest(_ end: Double) {
        let deadline = ContinuousClock.now + .seconds(30)
        while !writeManifest(end) && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.5) }
    }

    private func finish(at end: Double, interruption: String?) -> Result<RecordingResult, MediaError> {
        keep { try originals.end(at: end) }
        var state = manifest.composite ?? compositeState("queued")
        if let composite {
            switch composite.finish(at: end) {
            case .rendered(let result, let layoutChanges):
                state.state = "rendered"
                (state.sha256, state.duration, state.errors) = (result.sha256, result.duration, result.errors)
                manifest.layoutChanges = layoutChanges
            case .deferred(let reason):
                (state.state, state.mode, state.reason) = ("queued", "after", "the live composite gave up: \(reason)")
            case .failed(let reason):
                (state.state, state.mode, state.reason) = ("queued", "after", "the live composite failed: \(reason)")
            }
        }
        if writeFailure != nil { (state.state, state.reason) = ("failed", "the originals could not be written") }
        manifest.composite = state
        for index in manifest.participants.indices where manifest.participants[index].leftAt == nil { manifest.participants[index].leftAt = end }
        manifest.wallClockEnd = RecordingManifest.timestamp()
        for summary in totalErrors.summaries { problem(summary) }
        var sha = ""
        if let sealer {
            // The last seal covers the whole file: its hash is the file's, with no second pass over it.
            do { sha = try sealer.seal() } catch { problem("cannot seal the recording: \(error)") }
        } else {
            do { sha = try SHA256.hex(ofFileAt: originalsPath) } catch { problem("cannot hash the recording: \(error)") }
        }
        manifest.sha256 = sha.isEmpty ? nil : sha
        manifest.status = writeFailure != nil ? "failed" : interruption != nil ? "interrupted" : "finished"
        manifest.interruption = writeFailure == nil ? interruption : nil
        writeFinalManifest(end)
        if state.state == "rendered", let compositeSHA = state.sha256, !sha.isEmpty {
            do {
                var derivation = try Derivation(
                    recording: recordingID, originalsSHA256: sha, compositeSHA256: compositeSHA, composite: CompositeState.fileName,
                    renderer: CompositeRenderer.version, settings: CompositeRenderer.canonical(configuration.compositeSettings), mode: "live")
                try derivation.write(directory: directory, key: key)
            } catch {
                problem("cannot write the composite's derivation: \(error)")
                writeFinalManifest(end)
            }
        }
        if let key {
            do {
                let signed = try ManifestSignature.sign(directory: directory, key: key)
                _ = try Chain.append(root: configuration.root, key: key, recording: manifest.recordingID, manifestSHA256: signed)
            } catch {
                logger.error("cannot sign the manifest or extend the chain: \(error)")
            }
        }
        writerLock = nil
        logger.info("recording finished: \(String(format: "%.2f", end)) s, \(summary.reduce(0) { $0 + $1.packets }) packets kept, composite \(state.state)")
        if let writeFailure { return .failure(writeFailure) }
        return .success(
            RecordingResult(
                directory: directory, originalsPath: originalsPath, recordingPath: compositePath, manifestPath: manifestPath, sha256: sha,
                duration: end, errors: totalErrors, composite: state))
    }
}
