import Foundation
import Logging
import Media
import TestKit
import XCTest

@testable import Recorder

/// A member controls its timestamps and time bases: no value may trap, stretch or shift the recording.
final class HostileTimestampTests: XCTestCase {
    let logger = Logger(label: "test.hostile")

    private func configuration(_ root: String) -> RecordingConfiguration {
        var configuration = RecordingConfiguration(root: root, sessionID: "hostile", contactID: "contact-1", layout: .grid)
        configuration.preset = "ultrafast"
        configuration.queueCapacity = 100_000
        return configuration
    }

    /// Alice's real stream for `seconds`, as (session time, track index, packet), plus her track parameters.
    private func stream(seconds: Double) throws -> (packets: [(Double, Int, EncodedPacket)], tracks: [TrackParameters]) {
        let source = try TestSource(color: red, toneHz: 440, width: 320, height: 180, durationSeconds: seconds)
        var packets: [(Double, Int, EncodedPacket)] = []
        var origins: [Int: Int64] = [:]
        while let (track, packet) = try source.nextPacket() {
            let origin = origins[track] ?? packet.pts
            origins[track] = origin
            packets.append((Double(packet.pts - origin) * source.tracks[track].timeBase, track, packet))
        }
        return (packets, source.tracks)
    }

    func testAnAudioPacketFarAheadThenNormalOnesKeepsRecording() throws {
        for jump in [2.5, 3, 6, 30, 100] {
            let root = try temporaryDirectory(self)
            let (packets, tracks) = try stream(seconds: 4)
            guard let audio = tracks.firstIndex(where: { $0.kind == .audio }) else { return XCTFail("no audio track") }
            let clock = ManualSessionClock()
            let recording = try LiveRecording(configuration: configuration(root), clock: clock, logger: logger)
            recording.participantJoined(id: "alice", name: "Alice", role: "customer", colorHint: nil)
            for (index, track) in tracks.enumerated() { recording.trackAnnounced(participantID: "alice", trackID: "t\(index)", parameters: track) }
            var jumped = false
            for (time, track, packet) in packets {
                clock.set(time)
                recording.receive(participantID: "alice", trackID: "t\(track)", packet: packet)
                if track == audio, time >= 1, !jumped {
                    jumped = true
                    var ahead = packet
                    let ticks = Int64(jump / tracks[audio].timeBase)
                    ahead.pts = packet.pts + ticks
                    ahead.dts = packet.dts + ticks
                    recording.receive(participantID: "alice", trackID: "t\(track)", packet: ahead)
                    recording.waitForWorker()
                }
            }
            clock.set(4)
            let result = try recording.finish()
            let composite = try renderedComposite(result, logger: logger)
            XCTAssertEqual(try probe(composite).duration, 4, accuracy: 0.3, "jump \(jump) s")
            let decoded = try decode(composite)
            XCTAssertTrue(decoded.hasTone(440, 2.5, 3.4), "alice is still heard after a \(jump) s jump")
        }
    }

    func testATimeBaseOfOneSecondWithHugeTimestampsNeitherTrapsNorStretches() throws {
        let root = try temporaryDirectory(self)
        let (packets, tracks) = try stream(seconds: 3)
        guard let audio = tracks.firstIndex(where: { $0.kind == .audio }) else { return XCTFail("no audio track") }
        let clock = ManualSessionClock()
        let recording = try LiveRecording(configuration: configuration(root), clock: clock, logger: logger)
        recording.participantJoined(id: "alice", name: "Alice", role: "customer", colorHint: nil)
        for (index, track) in tracks.enumerated() { recording.trackAnnounced(participantID: "alice", trackID: "t\(index)", parameters: track) }
        var odd = tracks[audio]
        (odd.timeBaseNum, odd.timeBaseDen) = (1, 1)
        recording.trackAnnounced(participantID: "alice", trackID: "odd", parameters: odd)
        var counter: Int64 = 0
        for (time, track, packet) in packets {
            clock.set(time)
            recording.receive(participantID: "alice", trackID: "t\(track)", packet: packet)
            guard track == audio else { continue }
            counter += 1
            for ticks in [Int64.max / 2 + counter, Int64.min / 2 - counter, 1 << 50 + counter] {
                var hostile = packet
                (hostile.pts, hostile.dts, hostile.duration) = (ticks, ticks, Int64.max)
                recording.receive(participantID: "alice", trackID: "odd", packet: hostile)
            }
        }
        clock.set(3)
        let result = try recording.finish()
        XCTAssertGreaterThan(result.errors.resyncs, 0, "absurd timestamps are re-anchored on arrival")
        let composite = try renderedComposite(result, logger: logger)
        XCTAssertEqual(try probe(composite).duration, 3, accuracy: 0.3)
        XCTAssertTrue(try decode(composite).hasTone(440, 1, 2.5))
    }
}
