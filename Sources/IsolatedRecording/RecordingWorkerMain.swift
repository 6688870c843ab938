import ChildProcess
import Dispatch
import Foundation
import Logging
import Media
import Recorder
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The recording worker's side: `ctlive record-worker --room ID` runs ``RecordingWorkerMain/run(logger:)``.
///
/// It decodes, composites, encodes and writes one session's recording (a ``LiveRecording``) from
/// the frames the bot writes to its stdin, and answers on its stdout. FFmpeg's decoders parse
/// attacker-chosen bytes here, in a process of their own: a crash costs this session a moment of its
/// recording, never the bot or the other sessions.
public enum RecordingWorkerMain {
    /// Serves one recording until the bot says `end` (or goes away), then exits.
    public static func run(logger: Logger) -> Never {
        // The bot gone is a recording ended: finish the file rather than vanish with the kernel's SIGKILL.
        _ = ChildProcess.dieWithParent(signal: SIGTERM)
        let output = Output()
        var reader = WorkerFrameReader(descriptor: 0)
        guard let (first, _) = reader.next(), first.op == .start, let configuration = first.configuration else {
            output.send(failure("the first message was not start"))
            exit(2)
        }
        let recording: LiveRecording
        do { recording = try LiveRecording(configuration: configuration, logger: logger) } catch {
            output.send(failure("\(error)"))
            exit(3)
        }
        recording.onLoudestChanged = { loudest, ranking in
            var message = WorkerMessage(.loudest)
            (message.participant, message.ranking) = (loudest, ranking)
            output.send(message)
        }
        recording.onKeyframeNeeded = { participant, track in
            var message = WorkerMessage(.keyframe)
            (message.participant, message.track) = (participant, track)
            output.send(message)
        }
        recording.onWriteFailed = { error in
            var message = WorkerMessage(.writeFailed)
            message.error = "\(error)"
            output.send(message)
        }
        var started = WorkerMessage(.started)
        started.directory = recording.directory
        output.send(started)

        // Alive every half second, from a thread of its own: a worker that stops saying so is hung.
        let heartbeat = Thread {
            while true {
                output.send(WorkerMessage(.alive))
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
        heartbeat.start()
        let terminate = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        signal(SIGTERM, SIG_IGN)
        terminate.setEventHandler { recording.end(interruptedBy: "the bot went away") }
        terminate.resume()

        var interruption: String? = "the bot went away"
        loop: while let (message, payload) = reader.next() {
            switch message.op {
            case .joined:
                guard let id = message.participant else { continue }
                recording.participantJoined(id: id, name: message.name ?? id, role: message.role ?? "", colorHint: message.color)
            case .left:
                if let id = message.participant { recording.participantLeft(id: id) }
            case .track:
                guard let id = message.participant, let track = message.track, let parameters = message.parameters else { continue }
                recording.trackAnnounced(participantID: id, trackID: track, parameters: parameters)
            case .packet:
                guard let id = message.participant, let track = message.track, let pts = message.pts else { continue }
                let packet = EncodedPacket(data: payload, pts: pts, dts: message.dts ?? pts, duration: message.duration ?? 0, isKeyframe: message.key ?? false)
                recording.receive(participantID: id, trackID: track, packet: packet, capturedUs: message.capturedUs)
            case .event:
                if let event = message.event { recording.record(event: event) }
            case .end:
                interruption = message.interruption
                break loop
            default:
                continue
            }
        }
        recording.end(interruptedBy: interruption)
        do {
            var finished = WorkerMessage(.finished)
            finished.result = try recording.finish()
            output.send(finished)
        } catch {
            output.send(failure("\(error)"))
        }
        exit(0)
    }

    private static func failure(_ text: String) -> WorkerMessage {
        var message = WorkerMessage(.failed)
        message.error = text
        return message
    }

    /// Stdout, shared by the threads that answer: one frame at a time.
    private final class Output: Sendable {
        private let lock = Mutex(())
        func send(_ message: WorkerMessage) {
            let frame = WorkerWire.frame(message)
            lock.withLock { _ in _ = WorkerWire.write(frame, to: 1) }
        }
    }
}
