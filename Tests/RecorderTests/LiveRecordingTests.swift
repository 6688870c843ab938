import Digest
import Foundation
import Logging
import Media
import Synchronization
import TestKit
import XCTest

@testable import Recorder

/// Feeds a LiveRecording the way the bot does, unpaced, on a manual session clock.
final class LiveRecordingTests: XCTestCase {
    let logger = Logger(label: "test.live")

    enum Step {
        case join(String, RGB)
        case leave(String)
        case packet(String, Int, EncodedPacket)
        case custom(() -> Void)
    }

    /// Steps at session times; packets of a source start at its join time and keep their own spacing.
    struct Script {
        var steps: [(time: Double, order: Int, step: Step)] = []
        var sources: [String: TestSource] = [:]

        mutating func add(_ time: Double, _ step: Step) { steps.append((time, steps.count, step)) }

        mutating func participant(_ id: String, _ color: RGB, tone: Double, from start: Double, to end: Double) throws {
            let source = try TestSource(color: color, toneHz: tone, width: 320, height: 180, durationSeconds: end - start)
            sources[id] = source
            add(start, .join(id, color))
            var origins: [Int: Int64] = [:]
            while let (track, packet) = try source.nextPacket() {
                let origin = origins[track] ?? packet.pts
                origins[track] = origin
                add(start + Double(packet.pts - origin) * source.tracks[track].timeBase, .packet(id, track, packet))
            }
            if end < 7.99 { add(end, .leave(id)) }
        }

        func play(on recording: LiveRecording, clock: ManualSessionClock) {
            for (time, _, step) in steps.sorted(by: { ($0.time, $0.order) < ($1.time, $1.order) }) {
                clock.set(time)
                switch step {
                case .join(let id, let color):
                    recording.participantJoined(id: id, name: "name-\(id)", role: "customer", colorHint: color)
                    for (index, track) in sources[id]!.tracks.enumerated() {
                        recording.trackAnnounced(participantID: id, trackID: "t\(index)", parameters: track)
                    }
                case .leave(let id):
                    recording.participantLeft(id: id)
                case .packet(let id, let track, let packet):
                    recording.receive(participantID: id, trackID: "t\(track)", packet: packet)
                case .custom(let action):
                    action()
                }
            }
        }
    }

    func makeConfiguration(_ root: String) -> RecordingConfiguration {
        var configuration = RecordingConfiguration(root: root, sessionID: "session/../1", contactID: "contact-1", layout: .grid)
        configuration.preset = "ultrafast"
        configuration.queueCapacity = 100_000  // fed unpaced: nothing may be dropped
        configuration.maximumCompositeLag = nil  // fed unpaced on a manual clock: the live composite draws every picture
        return configuration
    }

    func testLateJoinerAndLeaverOnTheSessionClock() throws {
        let root = try temporaryDirectory(self)
        var script = Script()
        try script.participant("alice", red, tone: 440, from: 0, to: 8)
        try script.participant("carol", green, tone: 880, from: 0, to: 5)
        try script.participant("bob", blue, tone: 660, from: 3, to: 8)
        let clock = ManualSessionClock()
        let recording = try LiveRecording(configuration: makeConfiguration(root), clock: clock, logger: logger)
        XCTAssertTrue(recording.directory.hasSuffix("/session_.._1"), recording.directory)
        let inProgress = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: recording.directory + "/manifest.json"))) as! [String: Any]
        XCTAssertEqual(inProgress["status"] as? String, "recording")
        let loudest = Mutex<[String]>([])
        recording.onLoudestChanged = { id, _ in loudest.withLock { $0.append(id) } }
        script.play(on: recording, clock: clock)
        recording.record(event: TimelineEvent(kind: "chat", fields: ["from": "alice", "text": "hello"]))
        clock.set(8)
        let result = try recording.finish()

        XCTAssertEqual(result.errors, RecordingErrorCounts())
        XCTAssertEqual(result.duration, 8, accuracy: 0.1)
        let info = try probe(result.recordingPath)
        XCTAssertEqual([info.videoCodec, info.audioCodec], ["h264", "aac"])
        XCTAssertEqual([info.width, info.height], [1280, 720])
        XCTAssertEqual(info.duration, 8, accuracy: 0.5)

        let decoded = try decode(result.recordingPath, picturesAt: [1.5, 2.85, 3.3, 4, 4.85, 5.3, 6.5])
        XCTAssertEqual(decoded.decodeErrors, 0)
        assertColor(decoded.pictures[1.5], 320, 360, red, "alice, before bob")
        assertColor(decoded.pictures[1.5], 960, 360, green, "carol, before bob")
        assertColor(decoded.pictures[4], 320, 180, red, "alice, all three")
        assertColor(decoded.pictures[4], 960, 180, green, "carol, all three")
        assertColor(decoded.pictures[4], 640, 540, blue, "bob, all three")
        // Bob shows up when he joined (3 s), carol goes when she left (5 s); the file starts a couple of frames late.
        assertColor(decoded.pictures[2.85], 960, 360, green, "just before bob joins")
        assertColor(decoded.pictures[3.3], 640, 540, blue, "just after bob joined")
        assertColor(decoded.pictures[4.85], 960, 180, green, "just before carol leaves")
        assertColor(decoded.pictures[5.3], 960, 360, blue, "just after carol left")
        assertColor(decoded.pictures[6.5], 320, 360, red, "alice, after carol left")
        assertColor(decoded.pictures[6.5], 960, 360, blue, "bob, after carol left")
        XCTAssertTrue(decoded.hasTone(440, 1, 2.5) && decoded.hasTone(880, 1, 2.5))
        XCTAssertFalse(decoded.hasTone(660, 1, 2.5), "bob is not there yet")
        XCTAssertTrue(decoded.hasTone(440, 3.5, 4.8) && decoded.hasTone(660, 3.5, 4.8) && decoded.hasTone(880, 3.5, 4.8))
        XCTAssertTrue(decoded.hasTone(440, 5.8, 7.5) && decoded.hasTone(660, 5.8, 7.5))
        XCTAssertFalse(decoded.hasTone(880, 5.8, 7.5), "carol has left")

        // The manifest tells who was there and when, and proves the file.
        let manifest = try JSONDecoder().decode(RecordingManifest.self, from: Data(contentsOf: URL(fileURLWithPath: result.manifestPath)))
        XCTAssertEqual(manifest.status, "finished")
        XCTAssertEqual(manifest.session, "session/../1")
        XCTAssertEqual(manifest.sha256, try SHA256.hex(ofFileAt: result.originalsPath))
        XCTAssertEqual(manifest.composite?.state, "rendered")
        XCTAssertEqual(manifest.composite?.sha256, try SHA256.hex(ofFileAt: result.recordingPath))
        XCTAssertEqual(manifest.sha256, result.sha256)
        XCTAssertEqual(manifest.participants.map(\.id), ["alice", "carol", "bob"])
        XCTAssertEqual(manifest.participants[2].joinedAt, 3, accuracy: 0.001)
        XCTAssertEqual(manifest.participants[1].leftAt ?? 0, 5, accuracy: 0.001)
        XCTAssertEqual(manifest.participants[0].tracks.map(\.codec), [.h264, .opus])
        XCTAssertGreaterThan(manifest.participants[0].tracks[0].packets, 200)
        XCTAssertEqual(manifest.layoutChanges.map { $0.tiles.count }, [2, 3, 2])
        XCTAssertEqual(manifest.layoutChanges[1].time, 3, accuracy: 0.05)
        XCTAssertEqual(manifest.layoutChanges[2].time, 5, accuracy: 0.05)
        XCTAssertTrue(manifest.events.contains { $0.kind == "chat" && $0.fields["text"] == "hello" })
        XCTAssertEqual(manifest.events.filter { $0.kind == "loudest" }.count, loudest.withLock { $0.count })
        XCTAssertFalse(loudest.withLock { $0.isEmpty })

        // The originals: every packet sent, byte for byte, in the order sent per track.
        var sent: [String: [[UInt8]]] = [:]
        for (_, _, step) in script.steps.sorted(by: { ($0.time, $0.order) < ($1.time, $1.order) }) {
            if case .packet(let id, let track, let packet) = step { sent["\(id)/t\(track)", default: []].append(packet.data) }
        }
        let kept = try keptPackets(result.originalsPath)
        XCTAssertEqual(kept.keys.sorted(), sent.keys.sorted())
        for (track, packets) in sent { XCTAssertTrue(kept[track] == packets, "\(track): \(kept[track]?.count ?? 0) kept of \(packets.count) sent") }
        XCTAssertEqual(manifest.originals?.tracks.map(\.packets).reduce(0, +), sent.values.map(\.count).reduce(0, +))
    }

    func testAParticipantWhoLeavesAndComesBackGetsATileAgain() throws {
        let root = try temporaryDirectory(self)
        var script = Script()
        try script.participant("alice", red, tone: 440, from: 0, to: 6)
        try script.participant("bob", blue, tone: 660, from: 1, to: 3)
        try script.participant("bob", green, tone: 880, from: 3.2, to: 6)  // back, with another camera
        let clock = ManualSessionClock()
        let recording = try LiveRecording(configuration: makeConfiguration(root), clock: clock, logger: logger)
        script.play(on: recording, clock: clock)
        clock.set(6)
        let result = try recording.finish()
        XCTAssertEqual(result.errors, RecordingErrorCounts())
        let decoded = try decode(result.recordingPath, picturesAt: [0.5, 2, 3.1, 5])
        assertColor(decoded.pictures[0.5], 640, 360, red, "alice alone")
        assertColor(decoded.pictures[2], 960, 360, blue, "bob's first stay")
        assertColor(decoded.pictures[3.1], 640, 360, red, "alice alone again")
        assertColor(decoded.pictures[5], 320, 360, red, "alice")
        assertColor(decoded.pictures[5], 960, 360, green, "bob's second stay")
        XCTAssertTrue(decoded.hasTone(660, 1.5, 2.8) && !decoded.hasTone(660, 3.5, 5.8))
        XCTAssertTrue(decoded.hasTone(880, 3.5, 5.8))
        let manifest = try JSONDecoder().decode(RecordingManifest.self, from: Data(contentsOf: URL(fileURLWithPath: result.manifestPath)))
        XCTAssertEqual(manifest.participants.map(\.id), ["alice", "bob", "bob"])
        XCTAssertEqual(manifest.layoutChanges.map { $0.tiles.count }, [1, 2, 1, 2])
    }

    func testFilePublisherPassThroughIsRecordedAndKept() throws {
        let root = try temporaryDirectory(self)
        let input = root + "/publisher.mp4"
        try generateInput(input, color: "blue", tone: 700, seconds: 3)
        let source = try FileSource(path: input)
        XCTAssertEqual(source.tracks.map(\.codec), [.h264, .opus])
        XCTAssertEqual(source.tracks[0].extradata.first, 1, "MP4 H.264 travels with its avcC")
        let clock = ManualSessionClock()
        let recording = try LiveRecording(configuration: makeConfiguration(root), clock: clock, logger: logger)
        recording.participantJoined(id: "file", name: "File", role: "customer", colorHint: nil)
        for (index, track) in source.tracks.enumerated() { recording.trackAnnounced(participantID: "file", trackID: "t\(index)", parameters: track) }
        var origins: [Int: Int64] = [:]
        var packets: [(time: Double, track: Int, packet: EncodedPacket)] = []
        while let (track, packet) = try source.nextPacket() {
            let origin = origins[track] ?? packet.pts
            origins[track] = origin
            packets.append((Double(packet.pts - origin) * source.tracks[track].timeBase, track, packet))
        }
        for item in packets.sorted(by: { $0.time < $1.time }) {
            clock.set(item.time)
            recording.receive(participantID: "file", trackID: "t\(item.track)", packet: item.packet)
        }
        clock.set(3)
        let result = try recording.finish()
        XCTAssertEqual(result.errors, RecordingErrorCounts())
        let decoded = try decode(result.recordingPath, picturesAt: [2])
        assertColor(decoded.pictures[2], 640, 360, blue, "the file's picture")
        XCTAssertTrue(decoded.hasTone(700, 1, 2.5))
        let manifest = try JSONDecoder().decode(RecordingManifest.self, from: Data(contentsOf: URL(fileURLWithPath: result.manifestPath)))
        XCTAssertEqual(manifest.originals?.tracks.first?.codec, .h264)
        XCTAssertGreaterThan(manifest.originals?.tracks.first?.packets ?? 0, 30)
    }

    func testAStalledNetworkLeavesAGapNotAShift() throws {
        let root = try temporaryDirectory(self)
        var script = Script()
        try script.participant("alice", red, tone: 440, from: 0, to: 6)
        // Everything alice sent between 1.5 s and 4.5 s arrives at once at 4.5 s.
        script.steps = script.steps.map { step in
            guard case .packet = step.step, step.time >= 1.5, step.time < 4.5 else { return step }
            return (4.5, step.order, step.step)
        }
        let clock = ManualSessionClock()
        let recording = try LiveRecording(configuration: makeConfiguration(root), clock: clock, logger: logger)
        // Time passes for the recorder before the burst arrives.
        script.steps.append((4.5, -1, .custom { recording.waitForWorker() }))
        script.play(on: recording, clock: clock)
        clock.set(8)
        let result = try recording.finish()
        XCTAssertEqual(result.errors.resyncs, 0)
        XCTAssertEqual(result.errors.latePackets, 0, "the record keeps late packets")
        // The live composite drew the stall before the burst came: it is rendered again from the originals,
        // where the late sound is heard where it belongs.
        XCTAssertEqual(result.composite.state, "queued")
        let decoded = try decode(try renderedComposite(result, logger: logger))
        XCTAssertTrue(decoded.hasTone(440, 0.3, 1.3), "before the stall")
        XCTAssertTrue(decoded.hasTone(440, 2.2, 4.2), "what came late is heard at its place")
        XCTAssertTrue(decoded.hasTone(440, 4.8, 5.8), "after the stall, on time")
        XCTAssertFalse(decoded.hasTone(440, 6.3, 7.8), "and it ends on time: nothing shifted")
    }

    func testBadPacketsAreDroppedAndCountedWhileRecordingGoesOn() throws {
        let root = try temporaryDirectory(self)
        var script = Script()
        try script.participant("alice", red, tone: 440, from: 0, to: 4)
        let clock = ManualSessionClock()
        let recording = try LiveRecording(configuration: makeConfiguration(root), clock: clock, logger: logger)
        var generator = SystemRandomNumberGenerator()
        for index in 0..<20 {
            var garbage = (0..<Int.random(in: 10...3000, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            garbage[0] = 0xFF  // never a start code
            let packet = EncodedPacket(data: garbage, pts: Int64(30 + index), dts: Int64(30 + index), duration: 1, isKeyframe: false)
            script.add(1 + Double(index) / 40, .custom { recording.receive(participantID: "alice", trackID: "t0", packet: packet) })
        }
        let empty = EncodedPacket(data: [], pts: 40, dts: 40, duration: 1, isKeyframe: true)
        let opusOnVideo = EncodedPacket(data: [0xFC, 0xFF, 0xFE], pts: 41, dts: 41, duration: 1, isKeyframe: true)
        script.add(1.5, .custom {
            recording.receive(participantID: "alice", trackID: "t0", packet: empty)
            recording.receive(participantID: "alice", trackID: "t0", packet: opusOnVideo)
            recording.receive(participantID: "alice", trackID: "nope", packet: empty)
            recording.receive(participantID: "mallory", trackID: "t0", packet: empty)
            let wrong = TrackParameters(kind: .video, codec: .opus, timeBaseNum: 1, timeBaseDen: 48000)
            recording.trackAnnounced(participantID: "alice", trackID: "weird", parameters: wrong)
        })
        // A participant who never sends anything gets a placeholder tile in their colour.
        script.add(0, .custom { recording.participantJoined(id: "ghost", name: "Ghost", role: "agent", colorHint: yellow) })
        script.play(on: recording, clock: clock)
        clock.set(4)
        let result = try recording.finish()

        XCTAssertGreaterThanOrEqual(result.errors.malformedPackets, 22)
        XCTAssertEqual(result.errors.unknownTrack, 2)
        XCTAssertEqual(result.errors.undecodableTracks, 1)
        XCTAssertEqual(result.errors.droppedQueueFull, 0)
        let manifest = try JSONDecoder().decode(RecordingManifest.self, from: Data(contentsOf: URL(fileURLWithPath: result.manifestPath)))
        XCTAssertEqual(manifest.errors, result.errors)
        XCTAssertFalse(manifest.problems.isEmpty)
        XCTAssertEqual(try probe(result.recordingPath).duration, 4, accuracy: 0.5)
        let decoded = try decode(result.recordingPath, picturesAt: [0.5, 3.5])
        XCTAssertEqual(decoded.decodeErrors, 0)
        assertColor(decoded.pictures[3.5], 320, 360, red, "alice after the garbage")
        assertColor(decoded.pictures[3.5], 960, 360, yellow, "the silent participant's placeholder")
        XCTAssertTrue(decoded.hasTone(440, 2.5, 3.5))
    }

    func testAFullQueueRefusesMediaButNotControl() {
        // The recorder's input queue, with no worker draining it: media past the capacity is refused
        // (LiveRecording counts each refusal as droppedQueueFull); control inputs get a margin.
        let queue = BoundedQueue<Int>(capacity: 4)
        let accepted = (0..<10).filter { queue.push($0) }
        XCTAssertEqual(accepted, [0, 1, 2, 3])
        XCTAssertTrue(queue.push(100, limit: queue.capacity + 2), "a control input fits in the margin")
        XCTAssertEqual(queue.popAll(timeout: 0), [0, 1, 2, 3, 100])
        XCTAssertTrue(queue.push(5), "room again once drained")
    }

    func testAFullQueueDropsAndCounts() throws {
        let root = try temporaryDirectory(self)
        var configuration = makeConfiguration(root)
        configuration.queueCapacity = 16
        let clock = ManualSessionClock()
        let recording = try LiveRecording(configuration: configuration, clock: clock, logger: logger)
        // Stall the worker deterministically: its first loudest-speaker callback blocks until released.
        let entered = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        recording.onLoudestChanged = { _, _ in
            entered.signal()
            release.wait()
        }
        let source = try TestSource(color: red, toneHz: 440, useVideo: false, durationSeconds: 4)
        recording.participantJoined(id: "a", name: "A", role: "agent", colorHint: nil)
        recording.trackAnnounced(participantID: "a", trackID: "mic", parameters: source.tracks[0])
        var packets: [EncodedPacket] = []
        while let (_, packet) = try source.nextPacket() { packets.append(packet) }
        for packet in packets.prefix(50) {  // one second, in time
            clock.set(Double(packet.pts + 312) / 48000)
            recording.receive(participantID: "a", trackID: "mic", packet: packet)
            Thread.sleep(forTimeInterval: 0.002)
        }
        XCTAssertEqual(entered.wait(timeout: .now() + 20), .success, "the worker reached the callback")
        let burst = packets.dropFirst(50)
        for packet in burst { recording.receive(participantID: "a", trackID: "mic", packet: packet) }
        release.signal()
        clock.set(4)
        let result = try recording.finish()
        XCTAssertGreaterThanOrEqual(result.errors.droppedQueueFull, burst.count - 16)
        XCTAssertLessThanOrEqual(result.errors.droppedQueueFull, packets.count)
    }

    func testSpeakerDetectorHysteresis() {
        var detector = SpeakerDetector()
        XCTAssertEqual(detector.update(levels: ["a": 0.1, "b": 0.05], time: 0)?.loudest, "a")
        // b slightly louder: no change.
        for step in 1...50 { XCTAssertNil(detector.update(levels: ["a": 0.1, "b": 0.12], time: Double(step) * 0.02)) }
        // b much louder: changes only after the hold time.
        var changedAt: Double?
        for step in 0..<100 where changedAt == nil {
            let time = 2 + Double(step) * 0.02
            if let change = detector.update(levels: ["a": 0.01, "b": 0.3], time: time) {
                XCTAssertEqual(change.loudest, "b")
                XCTAssertEqual(change.ranking, ["b", "a"])
                changedAt = time
            }
        }
        XCTAssertEqual(changedAt ?? 0, 2.6, accuracy: 0.1)
        XCTAssertNil(detector.update(levels: ["a": 0, "b": 0], time: 5), "silence changes nothing")
    }
}

final class LiveRecordingSetupTests: XCTestCase {
    func testAnUnwritableRootFailsCleanly() {
        // A file where the root directory should be: init throws, and nothing hangs.
        let blocker = FileManager.default.temporaryDirectory.appendingPathComponent("blocker-\(UUID())").path
        _ = FileManager.default.createFile(atPath: blocker, contents: Data())
        defer { try? FileManager.default.removeItem(atPath: blocker) }
        XCTAssertThrowsError(try LiveRecording(configuration: RecordingConfiguration(root: blocker, sessionID: "s", contactID: "c"), logger: Logger(label: "t")))
    }
}
