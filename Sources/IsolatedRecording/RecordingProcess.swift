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

/// One session's recording in a worker process of its own (the bot's side).
///
/// The calls mirror ``LiveRecording``'s and return at once: they queue a frame for the worker's stdin
/// (bounded: a full queue loses media packets, counted, never control). What the worker says comes
/// back through the callbacks, on this object's reader thread. When the worker dies or stops saying
/// it is alive for ``hangTimeout``, it is killed and ``onLost`` is called once: its owner starts the
/// next part.
public final class RecordingProcess: SessionRecorder {
    /// The command that runs a worker: `ctlive record-worker --room <id>`.
    public static let workerSubcommand = "record-worker"
    /// A worker silent this long is taken as hung and killed.
    public static let hangTimeout: Duration = .seconds(2)

    /// Where the worker writes this part (known once it started).
    public let directory: String
    public let child: ChildProcess
    /// Frames for the worker: about a minute of a two-party session. A worker that only appends packets to
    /// its originals keeps up with a great many sessions; one stuck this long is lost anyway.
    private let queue = BoundedQueue<[UInt8]>(capacity: 16384)
    private let input: Int32
    private let state = Mutex(State())
    private let logger: Logger
    private let done = DispatchSemaphore(value: 0)

    private struct State {
        var onLoudestChanged: (@Sendable (String, [String]) -> Void)?
        var onKeyframeNeeded: (@Sendable (String, String) -> Void)?
        var onWriteFailed: (@Sendable (String) -> Void)?
        var onLost: (@Sendable (String) -> Void)?
        var result: Result<RecordingResult, RecordingProcessError>?
        var ended = false
        var lastAlive = ContinuousClock.now
        var droppedPackets = 0
    }

    /// Starts a worker for `configuration` with `command` (the executable and its arguments, the room
    /// id among them) and waits for it to open the recording (up to 5 s).
    public init(configuration: RecordingConfiguration, command: [String], logger: Logger) throws {
        self.logger = logger
        let toWorker = try ChildProcess.pipe()
        let fromWorker: (read: Int32, write: Int32)
        do { fromWorker = try ChildProcess.pipe() } catch {
            close(toWorker.read); close(toWorker.write)
            throw error
        }
        var environment = ProcessInfo.processInfo.environment
        // A crash is handled here, at once: the backtracer would only hold the dead worker for seconds.
        environment["SWIFT_BACKTRACE"] = "enable=no"
        // One thread decodes, composites and encodes most of the work: more malloc arenas only hold memory.
        environment["MALLOC_ARENA_MAX"] = environment["MALLOC_ARENA_MAX"] ?? "2"
        do {
            child = try ChildProcess.spawn(
                executable: command[0], arguments: Array(command.dropFirst()),
                environment: environment.map { "\($0.key)=\($0.value)" },
                descriptors: [toWorker.read: 0, fromWorker.write: 1])
        } catch {
            for fd in [toWorker.read, toWorker.write, fromWorker.read, fromWorker.write] { close(fd) }
            throw error
        }
        close(toWorker.read)
        close(fromWorker.write)
        input = toWorker.write
        var start = WorkerMessage(.start)
        start.configuration = configuration
        var reader = WorkerFrameReader(descriptor: fromWorker.read)
        guard WorkerWire.write(WorkerWire.frame(start), to: input), let (answer, _) = reader.next(), answer.op == .started,
            let directory = answer.directory
        else {
            child.kill()
            close(input)
            close(fromWorker.read)
            throw RecordingProcessError(description: "the recording worker did not start (\(child.wait(timeout: .seconds(2))?.description ?? "no answer"))")
        }
        self.directory = directory
        startThreads(reader: reader, output: fromWorker.read)
    }

    deinit { close(input) }

    private func startThreads(reader: WorkerFrameReader, output: Int32) {
        let writer = Thread { [queue, input] in
            while true {
                for frame in queue.popAll(timeout: 1) {
                    if frame.isEmpty { return }  // the end marker
                    if !WorkerWire.write(frame, to: input) { return }
                }
            }
        }
        writer.name = "recording-writer"
        writer.start()
        let readerThread = Thread { [self] in
            var reader = reader
            while let (message, _) = reader.next() { handle(message) }
            close(output)
            let status = child.wait(timeout: .seconds(5))
            let lost = state.withLock { state -> Bool in
                guard state.result == nil else { return false }
                state.result = .failure(RecordingProcessError(description: "the recording worker \(status?.description ?? "stopped")"))
                return true
            }
            done.signal()
            if lost, let onLost = state.withLock({ $0.onLost }) { onLost(status?.description ?? "stopped answering") }
        }
        readerThread.name = "recording-reader"
        readerThread.start()
        // The watchdog: a worker that stops saying it is alive is killed (its reader then reports it lost).
        let watchdog = Thread { [self] in
            while state.withLock({ $0.result == nil }) {
                Thread.sleep(forTimeInterval: 0.25)
                let silent = state.withLock { ContinuousClock.now - $0.lastAlive }
                if silent > Self.hangTimeout {
                    logger.error("recording worker hung: killing it", metadata: ["pid": "\(child.pid)", "directory": "\(directory)"])
                    child.kill()
                    return
                }
            }
        }
        watchdog.name = "recording-watchdog"
        watchdog.start()
    }

    private func handle(_ message: WorkerMessage) {
        state.withLock { $0.lastAlive = .now }
        switch message.op {
        case .loudest:
            if let loudest = message.participant, let ranking = message.ranking { state.withLock { $0.onLoudestChanged }?(loudest, ranking) }
        case .keyframe:
            if let participant = message.participant, let track = message.track { state.withLock { $0.onKeyframeNeeded }?(participant, track) }
        case .writeFailed:
            state.withLock { $0.onWriteFailed }?(message.error ?? "write failed")
        case .finished, .failed:
            let result: Result<RecordingResult, RecordingProcessError> = message.result.map { .success($0) }
                ?? .failure(RecordingProcessError(description: message.error ?? "the recording failed"))
            state.withLock { $0.result = result }
            done.signal()
        default:
            break
        }
    }

    // MARK: Callbacks (set before media flows)

    public var onLoudestChanged: (@Sendable (_ loudest: String, _ ranking: [String]) -> Void)? {
        get { state.withLock { $0.onLoudestChanged } }
        set { state.withLock { $0.onLoudestChanged = newValue } }
    }
    public var onKeyframeNeeded: (@Sendable (_ participantID: String, _ trackID: String) -> Void)? {
        get { state.withLock { $0.onKeyframeNeeded } }
        set { state.withLock { $0.onKeyframeNeeded = newValue } }
    }
    public func setHandlers(_ handlers: RecordingHandlers) {
        state.withLock { state in
            state.onLoudestChanged = handlers.loudestChanged
            state.onKeyframeNeeded = handlers.keyframeNeeded
            state.onWriteFailed = handlers.writeFailed
        }
    }

    public var onWriteFailed: (@Sendable (String) -> Void)? {
        get { state.withLock { $0.onWriteFailed } }
        set { state.withLock { $0.onWriteFailed = newValue } }
    }
    /// The worker crashed, hung or vanished before finishing: called once, on the reader thread.
    public var onLost: (@Sendable (String) -> Void)? {
        get { state.withLock { $0.onLost } }
        set { state.withLock { $0.onLost = newValue } }
    }

    /// Media packets lost because the worker's queue was full.
    public var droppedPackets: Int { state.withLock { $0.droppedPackets } }

    // MARK: Inputs

    public func participantJoined(id: String, name: String, role: String, colorHint: RGB?) {
        var message = WorkerMessage(.joined)
        (message.participant, message.name, message.role, message.color) = (id, name, role, colorHint)
        control(message)
    }

    public func participantLeft(id: String) {
        var message = WorkerMessage(.left)
        message.participant = id
        control(message)
    }

    public func trackAnnounced(participantID: String, trackID: String, parameters: TrackParameters) {
        var message = WorkerMessage(.track)
        (message.participant, message.track, message.parameters) = (participantID, trackID, parameters)
        control(message)
    }

    public func receive(participantID: String, trackID: String, packet: EncodedPacket, capturedUs: Int64? = nil) {
        let frame = WorkerWire.packetFrame(participant: participantID, track: trackID, packet: packet, capturedUs: capturedUs)
        if !queue.push(frame) { state.withLock { $0.droppedPackets += 1 } }
    }

    public func record(event: TimelineEvent) {
        var message = WorkerMessage(.event)
        message.event = event
        control(message)
    }

    /// Ends the recording now (see ``LiveRecording/end(interruptedBy:)``), without waiting.
    public func end(interruptedBy interruption: String? = nil) {
        guard state.withLock({ state in defer { state.ended = true }; return !state.ended }) else { return }
        var message = WorkerMessage(.end)
        message.interruption = interruption
        control(message)
        _ = queue.push([], limit: queue.capacity + 8192)  // then the writer stops
    }

    /// Waits for the worker to finish the file (ending it first if needed).
    public func finish(interruptedBy interruption: String? = nil) throws -> RecordingResult {
        end(interruptedBy: interruption)
        done.wait()
        done.signal()
        return try state.withLock { $0.result! }.get()
    }

    /// Control frames are rare and must not be lost: they may exceed the media capacity by a margin.
    private func control(_ message: WorkerMessage) {
        _ = queue.push(WorkerWire.frame(message), limit: queue.capacity + 4096)
    }
}

public struct RecordingProcessError: Error, CustomStringConvertible, Sendable {
    public let description: String
}
