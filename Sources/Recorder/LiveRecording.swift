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
    /// x264 preset of the composite. `superfast`: talking-head tiles compress well anyway, and the CPU
    /// it saves over `veryfast` is what lets one bot composite more sessions at once.
    public var preset: String = "superfast"
    public var crf: Int = 23
    /// When the composite is made from the originals (which are always written).
    public var composite: CompositeMode = .live
    public var recorderVersion: String = "ctlive-recorder 0.2"
    /// How far behind the session clock a live composite is made: the jitter buffer, in seconds.
    public var latency: Double = 0.5
    /// A live composite further behind its schedule than this gives up and is rendered after the session
    /// (it never leaves pictures out); nil never gives up (a test feeding a manual clock unpaced).
    public var maximumCompositeLag: Double? = 3
    /// libx264 tune of the composite. `zerolatency` (no B-frames, no lookahead) holds no pictures back:
    /// it halves the memory of a 720p live composite, for a slightly larger file.
    public var tune: String? = "zerolatency"
    /// Media packets the input queue holds before new ones are refused (and counted): about a minute of
    /// a two-party session, for a worker that only appends them to a file.
    public var queueCapacity: Int = 16384
    /// Which part of the session this recording is, and the recorder of the one before (after a takeover).
    public var part: Int?
    public var previousRecorder: String?
    public var previousPart: String?
    /// An Ed25519 private key file (`ctlive keys --signing-key`): the recording is sealed while it is
    /// written (`seals.jsonl`, every 2 s) and its final manifest signed (`manifest.sig`).
    public var signingKey: String?

    /// The composite's settings.
    public var compositeSettings: CompositeSettings {
        CompositeSettings(width: width & ~1, height: height & ~1, fps: fps, layout: layout, preset: preset, crf: crf, tune: tune)
    }

    public init(root: String = "Recordings", sessionID: String, contactID: String, layout: Layout = .grid) {
        self.root = root
        self.sessionID = sessionID
        self.contactID = contactID
        self.layout = layout
    }
}

/// When the composite (`recording.mp4`) is made from the originals.
public enum CompositeMode: String, Sendable, Codable, CaseIterable {
    /// As the session goes, a little behind it; rendered after instead if it falls behind.
    case live
    /// Queued when the part ends, rendered by the bot when it has headroom.
    case after
    /// Rendered only when asked (`ctlive recordings render`).
    case onDemand = "on-demand"
    /// Live while the machine has headroom, else queued (the bot decides per room).
    case auto
}

/// What a finished recording left on disk.
public struct RecordingResult: Sendable, Codable {
    public var directory: String
    /// The record: every packet as received.
    public var originalsPath: String
    /// The composite's path: it exists when ``composite``'s state is `rendered`.
    public var recordingPath: String
    public var manifestPath: String
    /// SHA-256 of the originals, hex (also in the manifest).
    public var sha256: String
    /// The part's length on the session clock, in seconds.
    public var duration: Double
    public var errors: RecordingErrorCounts
    public var composite: CompositeState
}

/// A recording fed live: participants, their tracks' packets and the session's events, as they happen.
///
/// Every method returns at once: the calls only stamp the session time and queue the work, which a worker
/// thread of this recording does: it appends every packet to the originals as it comes, measures who
/// speaks, and hands the packets to a live composite when there is one. Packets are untrusted: bad ones
/// are refused and counted, never fatal; every other one is kept, however late.
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

    /// Called once, on the worker thread, when writing the originals fails (a full disk...): the
    /// recording stops there; the owner should say so and finish it.
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
        while FileManager.default.fileExists(atPath: directory + "/" + OriginalsFile.fileName) {  // never overwrite a recording
            directory = "\(configuration.root)/\(day.string(from: Date()))/\(name)-\(suffix)"
            suffix += 1
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var logger = logger
        logger[metadataKey: "session"] = "\(configuration.sessionID)"
        // Everything that can fail comes before the stored properties are set: a failed init never reaches
        // `deinit`, which would wait for a worker that never started.
        let shared = Shared()
        let worker: RecordingWorker
        do { worker = try RecordingWorker(configuration: configuration, directory: directory, clock: clock, shared: shared, logger: logger) } catch {
            try? FileManager.default.removeItem(atPath: directory)  // just made, never written: no recording to leave behind
            throw error
        }
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
    /// Where this recording's files go, once it writes them; nil until then (a worker still starting).
    var startedDirectory: String? { get }
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
    public var startedDirectory: String? { directory }

    public func setHandlers(_ handlers: RecordingHandlers) {
        onLoudestChanged = handlers.loudestChanged
        onKeyframeNeeded = handlers.keyframeNeeded
        onWriteFailed = handlers.writeFailed.map { writeFailed in { @Sendable error in writeFailed("\(error)") } }
    }
}
