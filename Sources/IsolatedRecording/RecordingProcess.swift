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
        /// Where the worker writes this part, once it said it started.
        var directory: String?
        /// Why it could not start, when it said so.
        var startFailure: String?
    }

    /// A worker has this long to open its recording and say so.
    public static let startTimeout: Duration = .seconds(10)
    private let started = DispatchSemaphore(value: 0)

    /// Where the worker writes this part, once it said it started; nil until then.
    public var startedDirectory: String? { state.withLock { $0.directory } }

    /// Where the worker writes this part. Known once the worker started: waits for that (at most
    /// ``startTimeout``); empty if it never did (``onLost`` then says why).
    public var directory: String {
        if let directory = state.withLock({ $0.directory }) { return directory }
        _ = started.wait(timeout: .now() + .seconds(Int(Self.startTimeout.components.seconds)))
        started.signal()
        return state.withLock { $0.directory } ?? ""
    }

    /// Starts a worker for `configuration` with `command` (the executable and its arguments, the room
    /// id among them). Returns at once, without waiting for the worker to open the recording: what is
    /// sent meanwhile waits in the queue. A worker that does not start within ``startTimeout`` is
    /// killed and reported through ``onLost``.
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
        _ = queue.push(WorkerWire.frame(start))
        startThreads(reader: WorkerFrameReader(descriptor: fromWorker.read), output: fromWorker.read)
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
            started.signal()  // nobody waits for a directory that will never come
            let reason = state.withLock { $0.startFailure } ?? status?.description ?? "stopped answering"
            if lost, let onLost = state.withLock({ $0.onLost }) { onLost(reason) }
        }
        readerThread.name = "recording-reader"
        readerThread.start()
        // The watchdog: a worker that stops saying it is alive, or never starts, is killed (its reader then reports it lost).
        let watchdog = Thread { [self] in
            while state.withLock({ $0.result == nil }) {
                Thread.sleep(forTimeInterval: 0.25)
                let (silent, directory) = state.withLock { (ContinuousClock.now - $0.lastAlive, $0.directory) }
                if silent > (directory == nil ? Self.startTimeout : Self.hangTimeout) {
                    logger.error(directory == nil ? "recording worker did not start: killing it" : "recording worker hung: killing it",
                                 metadata: ["pid": "\(child.pid)", "directory": "\(directory ?? "")"])
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
        case .started:
            state.withLock { $0.directory = message.directory }
            started.signal()
        case .loudest:
            if let loudest = message.participant, let ranking = message.ranking { state.withLock { $0.onLoudestChanged }?(loudest, ranking) }
        case .keyframe:
            if let participant = message.participant, let track = message.track { state.withLock { $0.onKeyframeNeeded }?(participant, track) }
        case .writeFailed:
            state.withLock { $0.onWriteFailed }?(message.error ?? "write failed")
        case .failed where state.withLock({ $0.directory == nil }):
            // It could not open the recording (a full disk...): lost before it started, reported as such.
            state.withLock { $0.startFailure = message.error ?? "the recording worker could not start" }
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
