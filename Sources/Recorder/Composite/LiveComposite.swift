import Digest
import Foundation
import Logging
import Media
import Synchronization

/// The composite made while the session goes on, a little behind it, on a thread of its own: the
/// originals' thread hands it what it kept and never waits for it.
///
/// It never leaves pictures out. When it falls further behind than ``maximumLag`` (an overloaded
/// machine), or its queue fills, it gives up: the partial file is removed and the composite is
/// rendered after the session from the originals instead. So does a composite that saw media come
/// after its time was drawn (more than ``lateTolerance`` late, or more than a few packets): rendered
/// after the fact, late sound is heard where it belongs. A packet or two of jitter is only counted.
final class LiveComposite: Sendable {
    enum Input: Sendable {
        case join(id: String, color: RGB, time: Double)
        case leave(id: String, time: Double)
        case track(participant: String, track: String, parameters: TrackParameters)
        case packet(participant: String, track: String, packet: EncodedPacket, placed: Double)
        /// Everything kept up to session time `time` has been sent: draw up to it, less the latency.
        case advance(time: Double)
        case barrier(DispatchSemaphore)
        case finish(time: Double)
    }

    /// How the live composite ended.
    enum Outcome: Sendable {
        case rendered(CompositeResult, layoutChanges: [RecordingManifest.LayoutChange])
        /// Given up: rendered later from the originals.
        case deferred(reason: String)
        case failed(reason: String)
    }

    private final class Status: Sendable {
        let outcome = Mutex<Outcome?>(nil)
        /// Set once it gave up or failed: inputs are no longer queued.
        let stopped = Atomic<Bool>(false)
    }

    /// Media this late (seconds after its time was drawn) makes the live composite give up for a render after.
    static let lateTolerance = 1.0

    private let queue: BoundedQueue<Input>
    private let status = Status()
    private let done = DispatchSemaphore(value: 0)
    let path: String

    /// - Parameter maximumLag: seconds behind its schedule at which it gives up; nil never (tests on a manual clock).
    init(path: String, settings: CompositeSettings, latency: Double, maximumLag: Double?, clock: any SessionClock,
         onKeyframeNeeded: @escaping @Sendable (String, String) -> Void, logger: Logger) throws {
        self.path = path
        let writer = try RecordingWriter(path: path, settings: settings.output)
        let pipeline = try SessionPipeline(settings: settings.output, writer: writer, logger: logger)
        let queue = BoundedQueue<Input>(capacity: 8192)
        self.queue = queue
        let worker = Worker(pipeline: pipeline, path: path, latency: latency, maximumLag: maximumLag, clock: clock,
                            onKeyframeNeeded: onKeyframeNeeded, logger: logger)
        let handoff = UncheckedBox(worker)
        let (status, done) = (self.status, self.done)
        let thread = Thread {
            let result = handoff.value.run(queue, status: status)
            status.stopped.store(true, ordering: .relaxed)
            status.outcome.withLock { $0 = result }
            done.signal()
            // Nobody waits for a composite that ended: release what is still queued.
            for input in queue.popAll(timeout: 0) { if case .barrier(let reached) = input { reached.signal() } }
        }
        thread.name = "composite"
        thread.start()
    }

    func send(_ input: Input) {
        guard !status.stopped.load(ordering: .relaxed) else { return }
        if !queue.push(input) {
            status.stopped.store(true, ordering: .relaxed)
            _ = queue.push(.finish(time: 0), limit: queue.capacity + 16)  // wakes the worker, which sees `stopped`
        }
    }

    /// Waits until what was sent so far is drawn up to the clock's time (tests on a manual clock).
    func barrier() {
        guard !status.stopped.load(ordering: .relaxed) else { return }
        let reached = DispatchSemaphore(value: 0)
        guard queue.push(.barrier(reached), limit: queue.capacity + 16) else { return }
        _ = reached.wait(timeout: .now() + 10)  // a composite that gave up meanwhile answers no more
    }

    /// Ends it at session time `end` and waits for the file.
    func finish(at end: Double) -> Outcome {
        _ = queue.push(.finish(time: end), limit: queue.capacity + 16)
        done.wait()
        done.signal()
        return status.outcome.withLock { $0! }
    }

    private final class Worker {
        let pipeline: SessionPipeline
        let path: String
        let latency: Double
        let maximumLag: Double?
        let clock: any SessionClock
        let onKeyframeNeeded: @Sendable (String, String) -> Void
        let logger: Logger
        var layoutChanges: [RecordingManifest.LayoutChange] = []
        var late = 0, veryLate = 0, packets = 0
        /// How far the recording has handed over everything: drawing never goes past it.
        var watermark = 0.0
        var lastKeyframeRequest: [String: Double] = [:]

        init(pipeline: SessionPipeline, path: String, latency: Double, maximumLag: Double?, clock: any SessionClock,
             onKeyframeNeeded: @escaping @Sendable (String, String) -> Void, logger: Logger) {
            (self.pipeline, self.path, self.latency, self.maximumLag, self.clock) = (pipeline, path, latency, maximumLag, clock)
            self.onKeyframeNeeded = onKeyframeNeeded
            self.logger = logger
            pipeline.onEvent = { [unowned self] event in
                switch event {
                case .layoutChanged(let time, let layout, let tiles): layoutChanges.append(.init(time: time, layout: layout, tiles: tiles))
                case .keyframeNeeded(let participant, let track):
                    let key = participant + "/" + track, now = clock.now()
                    if now - (lastKeyframeRequest[key] ?? -10) >= 1 {
                        lastKeyframeRequest[key] = now
                        onKeyframeNeeded(participant, track)
                    }
                case .loudestChanged: break  // the recording's speaker meter reports who speaks
                }
            }
        }

        func run(_ queue: BoundedQueue<Input>, status: Status) -> Outcome {
            let tick = 1 / Double(max(1, pipeline.settings.fps))
            while true {
                var barriers: [DispatchSemaphore] = []
                defer { for reached in barriers { reached.signal() } }
                if status.stopped.load(ordering: .relaxed) { return giveUp("its queue was full: the machine is overloaded") }
                for input in queue.popAll(timeout: tick) {
                    switch input {
                    case .join(let id, let color, let time): pipeline.join(id: id, color: color, at: time)
                    case .leave(let id, let time): pipeline.leave(id: id, at: time)
                    case .track(let participant, let track, let parameters):
                        do {
                            pipeline.addTrack(participant: participant, track: track, kind: parameters.kind,
                                              decoder: try Decoder(parameters: parameters), timeBase: parameters.timeBase)
                        } catch {
                            pipeline.countError(\.undecodableTracks)
                        }
                    case .packet(let participant, let track, let packet, let placed):
                        packets += 1
                        let behind = pipeline.nextOutputTime - placed
                        if behind > SessionPipeline.videoLookahead { late += 1 }
                        if behind > LiveComposite.lateTolerance { veryLate += 1 }
                        do { pipeline.push(try Packet(packet), participant: participant, track: track, placed: placed) } catch {
                            pipeline.countError(\.malformedPackets)
                        }
                    case .advance(let time): watermark = max(watermark, time)
                    case .barrier(let reached): barriers.append(reached)
                    case .finish(let end):
                        if status.stopped.load(ordering: .relaxed) { return giveUp("its queue was full: the machine is overloaded") }
                        return finish(at: end)
                    }
                }
                do { try pipeline.render(upTo: watermark - latency) } catch { return failed(error) }
                if let maximumLag {
                    let lag = clock.now() - latency - pipeline.nextOutputTime
                    if lag > maximumLag { return giveUp(String(format: "it fell %.1f s behind the session", lag)) }
                }
            }
        }

        private func finish(at end: Double) -> Outcome {
            do {
                try pipeline.finish(at: end)
                let lateTotal = late + pipeline.errors.latePackets
                if veryLate > 0 || lateTotal > max(10, packets / 100) {
                    return giveUp("\(lateTotal) packets arrived after their time was drawn (\(veryLate) over \(LiveComposite.lateTolerance) s late)")
                }
                var errors = pipeline.errors
                errors.latePackets = lateTotal
                let result = CompositeResult(path: path, sha256: try SHA256.hex(ofFileAt: path), duration: pipeline.writtenDuration, errors: errors)
                return .rendered(result, layoutChanges: layoutChanges)
            } catch {
                return failed(error)
            }
        }

        private func giveUp(_ reason: String) -> Outcome {
            logger.info("live composite deferred: \(reason)")
            unlink(path)
            return .deferred(reason: reason)
        }

        private func failed(_ error: Error) -> Outcome {
            logger.error("live composite failed: \(error)")
            unlink(path)
            return .failed(reason: "\(error)")
        }
    }
}

/// Moves a non-Sendable value to the one thread that uses it from then on.
final class UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
