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

#if canImport(Glibc)
import Glibc
#endif

/// The bot's recording side: a room's parts opened in worker processes, their callbacks wired, a lost
/// worker continued as the next part, rooms refused while recordings cannot be written, a finished part archived.
extension RecorderBot {
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
    func openPart(_ assignment: RecordRoom, part: Int, previousPart: String?) throws -> any SessionRecorder {
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
    func startRecording(_ assignment: RecordRoom) -> Session? {
        let recording: any SessionRecorder
        do { recording = try openPart(assignment, part: assignment.part ?? 1, previousPart: nil) } catch {
            logger.error("cannot start recording room \(assignment.roomID): \(error)")
            report(RecordingReport(roomID: assignment.roomID, status: .failed, reason: "cannot start recording: \(error)"))
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
            report(RecordingReport(roomID: assignment.roomID, status: .failed, reason: "its media link failed: \(reason)"))
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
    func attach(_ session: Session, _ recording: any SessionRecorder) {
        let roomID = session.roomID
        var handlers = RecordingHandlers()
        handlers.loudestChanged = { [weak self] _, ranking in
            self?.send(SpeakerRanking(roomID: roomID, ranking: ranking, loudestChanged: true))
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

    /// Why this bot should take no rooms now: recordings cannot be written (a full disk, no permission), or its
    /// spool holds more than `--spool-limit` the store has not taken yet (a store down for long). Nil: it can.
    func takingProblem() -> String? {
        if let problem = Self.writeProblem(root: configuration.recordingsRoot, minimumFree: configuration.minimumFreeBytes) { return problem }
        if let spool = configuration.spool, let limit = configuration.spoolLimitBytes, spool.backlogBytes > limit {
            return "the spool holds \(spool.backlogBytes >> 20) MiB the object store has not taken yet (limit \(limit >> 20) MiB)"
        }
        return nil
    }

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
    func stopAccepting(because reason: String) {
        let first = notAccepting.withLock { current in
            defer { current = reason }
            return current == nil
        }
        logger.error("taking no rooms until recordings can be written again", metadata: ["reason": "\(reason)"])
        send(RecorderState(accepting: false, reason: reason))
        guard first else { return }
        Task { [weak self] in
            while true {
                try? await Task.sleep(for: .seconds(2))
                guard let self else { return }
                guard self.takingProblem() == nil else { continue }
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
    func continueAfterLoss(_ session: Session, lost: RecordingProcess, how: String) {
        guard lost.startedDirectory != nil else {
            // It never opened the recording (a full disk, say): the room is not recorded here; the hub hands it over.
            logger.error("recording worker could not start", metadata: ["room": "\(session.roomID)", "how": "\(how)"])
            report(RecordingReport(roomID: session.roomID, status: .failed, reason: "cannot start recording: \(how)"))
            if sessions.withLock({ $0.removeValue(forKey: session.roomID) }) != nil { finishLater(session, reason: "cannot start recording") }
            return
        }
        logger.error("recording worker lost", metadata: ["room": "\(session.roomID)", "how": "\(how)", "directory": "\(lost.directory)"])
        do {
            if try AbandonedRecording.completeIfAbandoned(directory: lost.directory, completer: archive.completer) {
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
            report(RecordingReport(roomID: session.roomID, status: .failed, reason: "its recording worker keeps failing (\(how))"))
            if sessions.withLock({ $0.removeValue(forKey: session.roomID) }) != nil { finishLater(session, reason: "recording worker keeps failing") }
            return
        }
        let recording: any SessionRecorder
        do {
            recording = try openPart(session.assignment, part: next.part, previousPart: (lost.directory as NSString).lastPathComponent)
        } catch {
            report(RecordingReport(roomID: session.roomID, status: .failed, reason: "cannot restart its recording worker: \(error)"))
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
    func join(_ session: Session) async {
        do {
            try await client.request(JoinRoom(roomID: session.roomID))
        } catch {
            logger.error("cannot join room \(session.roomID): \(error)")
            if sessions.withLock({ $0.removeValue(forKey: session.roomID) }) != nil { finishLater(session, reason: "join refused") }
            return
        }
        session.link.withLock { $0 }?.start()
        // `recording` is said once the worker writes (its start is not waited for on the I/O thread).
        let deadline = ContinuousClock.now + RecordingProcess.startTimeout
        while session.withState({ !$0.ended && $0.recording.startedDirectory == nil }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        guard let directory = session.withState({ $0.ended ? nil : $0.recording.startedDirectory }) else { return }  // lost: reported there
        session.recording.record(event: TimelineEvent(kind: "recordingStatus", fields: ["status": "recording", "recorder": "recorder:\(configuration.userId)"]))
        report(RecordingReport(roomID: session.roomID, status: .recording))
        logger.info("recording", metadata: ["room": "\(session.roomID)", "directory": "\(directory)"])
    }

    static func isoTime(milliseconds: Int64) -> String { ISO8601.utcMilliseconds(Date(timeIntervalSince1970: Double(milliseconds) / 1000)) }

    func finish(_ session: Session) {
        session.link.withLock { $0 }?.stop()
        do {
            archive.archive(try session.recording.finish(interruptedBy: nil), roomID: session.roomID)
        } catch {
            logger.error("recording of room \(session.roomID) failed: \(error)")
        }
    }
}
