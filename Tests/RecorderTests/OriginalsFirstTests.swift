import Digest
import Foundation
import Logging
import Media
import TestKit
import XCTest

@testable import Recorder

/// The record is the originals: every packet kept, however late; the composite derived from them,
/// deterministically.
final class OriginalsFirstTests: XCTestCase {
    let logger = Logger(label: "test.originals")

    private func configuration(_ root: String, _ session: String, composite: CompositeMode) -> RecordingConfiguration {
        var configuration = RecordingConfiguration(root: root, sessionID: session, contactID: "contact-1", layout: .grid)
        configuration.width = 640
        configuration.height = 360
        configuration.preset = "ultrafast"
        configuration.queueCapacity = 100_000
        configuration.maximumCompositeLag = nil  // a manual clock, fed unpaced
        configuration.composite = composite
        return configuration
    }

    /// Packets of a test source at their media times (seconds from its first).
    private func packets(_ source: TestSource) throws -> [(time: Double, track: Int, packet: EncodedPacket)] {
        var out: [(Double, Int, EncodedPacket)] = []
        var origins: [Int: Int64] = [:]
        while let (track, packet) = try source.nextPacket() {
            let origin = origins[track] ?? packet.pts
            origins[track] = origin
            out.append((Double(packet.pts - origin) * source.tracks[track].timeBase, track, packet))
        }
        return out
    }

    /// A publisher whose audio reaches the recorder at 80 % of real time for 20 s: every packet is in the
    /// originals, and the rendered composite has its sound throughout (not silence from 2 s on).
    func testASlowPublisherIsKeptWholeAndHeardInTheComposite() throws {
        let root = try temporaryDirectory(self)
        let clock = ManualSessionClock()
        let recording = try LiveRecording(configuration: configuration(root, "slow", composite: .live), clock: clock, logger: logger)
        let slow = try TestSource(color: red, toneHz: 440, width: 160, height: 90, durationSeconds: 20)
        let agent = try TestSource(color: blue, toneHz: 1000, width: 160, height: 90, durationSeconds: 20)
        var steps: [(time: Double, id: String, track: Int, packet: EncodedPacket)] = []
        for (time, track, packet) in try packets(slow) {
            // Its audio is sent at 80 % of real time; the session lasts 20 s, so 16 s of it arrive.
            let arrival = slow.tracks[track].kind == .audio ? time / 0.8 : time
            if arrival < 20 { steps.append((arrival, "slow", track, packet)) }
        }
        for (time, track, packet) in try packets(agent) { steps.append((time, "agent", track, packet)) }
        steps.sort { $0.time < $1.time }
        for (id, source, color) in [("slow", slow, red), ("agent", agent, blue)] {
            recording.participantJoined(id: id, name: id, role: "customer", colorHint: color)
            for (index, track) in source.tracks.enumerated() { recording.trackAnnounced(participantID: id, trackID: "t\(index)", parameters: track) }
        }
        var sent: [String: [[UInt8]]] = [:]
        for step in steps {
            clock.set(step.time)
            recording.receive(participantID: step.id, trackID: "t\(step.track)", packet: step.packet)
            sent["\(step.id)/t\(step.track)", default: []].append(step.packet.data)
            if step.packet.isKeyframe { recording.waitForWorker() }  // let the live composite draw as time goes
        }
        clock.set(20)
        let result = try recording.finish()

        // Sent equals kept, per track, byte for byte; nothing counted as late or dropped in the record.
        XCTAssertEqual(try keptPackets(result.originalsPath), sent)
        XCTAssertEqual(result.errors.droppedQueueFull, 0)
        XCTAssertEqual(result.duration, 20, accuracy: 0.05)
        // The live composite saw late sound: it is rendered after, from the originals.
        XCTAssertEqual(result.composite.state, "queued", result.composite.reason ?? "")
        try CompositeJob.render(directory: result.directory, key: nil, logger: logger)
        let decoded = try decode(result.recordingPath, picturesAt: [10])
        XCTAssertEqual(decoded.decodeErrors, 0)
        for window in [(1.0, 3.0), (6.0, 8.0), (12.0, 14.0)] {
            XCTAssertTrue(decoded.hasTone(440, window.0, window.1), "the slow publisher is heard from \(window.0) to \(window.1) s")
            XCTAssertTrue(decoded.hasTone(1000, window.0, window.1), "the agent is heard from \(window.0) to \(window.1) s")
        }
        assertColor(decoded.pictures[10], 160, 180, red, "the slow publisher's picture")
    }

    /// The same originals and the same build render the same bytes, and the recorder's rendered composite
    /// is what an auditor's re-render gives.
    func testRenderingIsDeterministic() throws {
        let root = try temporaryDirectory(self)
        let clock = ManualSessionClock()
        let recording = try LiveRecording(configuration: configuration(root, "determinism", composite: .after), clock: clock, logger: logger)
        let alice = try TestSource(color: red, toneHz: 440, width: 160, height: 90, durationSeconds: 4)
        let bob = try TestSource(color: green, toneHz: 880, width: 160, height: 90, durationSeconds: 3)
        recording.participantJoined(id: "alice", name: "Alice", role: "customer", colorHint: red)
        for (index, track) in alice.tracks.enumerated() { recording.trackAnnounced(participantID: "alice", trackID: "t\(index)", parameters: track) }
        var steps = try packets(alice).map { ($0.time, "alice", $0.track, $0.packet) }
        steps += try packets(bob).map { ($0.time + 1, "bob", $0.track, $0.packet) }
        steps.sort { $0.0 < $1.0 }
        var bobJoined = false
        for (time, id, track, packet) in steps {
            clock.set(time)
            if id == "bob" && !bobJoined {
                bobJoined = true
                recording.participantJoined(id: "bob", name: "Bob", role: "agent", colorHint: green)
                for (index, parameters) in bob.tracks.enumerated() { recording.trackAnnounced(participantID: "bob", trackID: "t\(index)", parameters: parameters) }
            }
            recording.receive(participantID: id, trackID: "t\(track)", packet: packet)
        }
        clock.set(4)
        let result = try recording.finish()
        XCTAssertEqual(result.composite.state, "queued")
        XCTAssertFalse(FileManager.default.fileExists(atPath: result.recordingPath))

        let first = try CompositeJob.render(directory: result.directory, key: nil, logger: logger)
        let again = try CompositeJob.render(directory: result.directory, key: nil, output: root + "/again.mp4", logger: logger)
        XCTAssertEqual(first.sha256, again.sha256)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: result.recordingPath)), try Data(contentsOf: URL(fileURLWithPath: root + "/again.mp4")))
        XCTAssertEqual(try probe(result.recordingPath).duration, 4, accuracy: 0.3)
        let decoded = try decode(result.recordingPath, picturesAt: [0.5, 2.5])
        assertColor(decoded.pictures[0.5], 320, 180, red, "alice alone")
        assertColor(decoded.pictures[2.5], 480, 180, green, "bob beside alice")

        // The originals remuxed for players: every track, every packet, and FFmpeg's own tools read and decode it.
        let mkv = root + "/originals.mkv"
        let exported = try OriginalsExport.matroska(originals: result.originalsPath, output: mkv)
        let manifest = try JSONDecoder().decode(RecordingManifest.self, from: Data(contentsOf: URL(fileURLWithPath: result.manifestPath)))
        let kept = manifest.originals?.tracks.map(\.packets) ?? []
        XCTAssertEqual(exported.packets.keys.sorted().map { exported.packets[$0]! }, kept)
        let counted = try runProgram("/usr/bin/ffprobe", ["-v", "error", "-count_packets", "-show_entries", "stream=codec_name,nb_read_packets", "-of", "csv=p=0", mkv])
        XCTAssertEqual(counted.split(separator: "\n").map(String.init), zip(manifest.originals!.tracks, kept).map { "\($0.codec.rawValue),\($1)" })
        _ = try runProgram("/usr/bin/ffmpeg", ["-v", "error", "-xerror", "-i", mkv, "-map", "0", "-f", "null", "-"])
    }
}

/// The composite of a finished recording: the live one, or else rendered now from the originals.
func renderedComposite(_ result: RecordingResult, logger: Logger) throws -> String {
    if result.composite.state != "rendered" { try CompositeJob.render(directory: result.directory, key: nil, logger: logger) }
    return result.recordingPath
}

/// What an originals file kept: each track's payloads (by `participant/track`), in order.
func keptPackets(_ path: String) throws -> [String: [[UInt8]]] {
    let reader = try OriginalsReader(path: path)
    var names: [Int: String] = [:]
    var kept: [String: [[UInt8]]] = [:]
    while let record = try reader.next() {
        switch record {
        case .track(let track): names[track.number] = "\(track.participant)/\(track.track)"
        case .packet(let packet): kept[names[packet.track]!, default: []].append(packet.packet.data)
        default: break
        }
    }
    guard !reader.truncated else { throw MediaError(operation: "read(\(path))", message: "cut short") }
    return kept
}
