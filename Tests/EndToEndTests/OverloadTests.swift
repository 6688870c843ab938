import Foundation
import IsolatedRecording
import Logging
import Media
import Recorder
import TestKit
import Timestamps
import XCTest

/// More sessions than the machine can composite live: the record loses nothing, the timeline stretches
/// nowhere, and every composite a live one could not keep up with is rendered afterwards.
final class OverloadTests: XCTestCase {
    func testOverloadKeepsEveryPacketAndDefersCompositesThatAreRenderedAfter() throws {
        let root = try temporaryDirectory(self)
        let logger = quietLogger("overload")
        let seconds = 8.0, sessions = 6  // live 720p composites cost about a third of a core each: 2 cores hold 4 to 5
        var timeline: [(time: Double, participant: Int, track: Int, packet: EncodedPacket)] = []
        var tracks: [[TrackParameters]] = []
        for participant in 0..<2 {
            let source = try TestSource(color: participant == 0 ? red : blue, toneHz: participant == 0 ? 440 : 880, width: 320, height: 180,
                                        durationSeconds: seconds)
            tracks.append(source.tracks)
            var origins: [Int: Int64] = [:]
            while let (track, packet) = try source.nextPacket() {
                let origin = origins[track] ?? packet.pts
                origins[track] = origin
                timeline.append((Double(packet.pts - origin) * source.tracks[track].timeBase, participant, track, packet))
            }
        }
        timeline.sort { $0.time < $1.time }

        var configuration = RecordingConfiguration(root: root, sessionID: "", contactID: "overload", layout: .grid)
        configuration.composite = .live
        let recordings = try (0..<sessions).map { index -> RecordingProcess in
            configuration.sessionID = "overload-\(index)"
            let recording = try RecordingProcess(
                configuration: configuration, command: [ctliveExecutable, RecordingProcess.workerSubcommand, "--room", configuration.sessionID],
                logger: logger)
            for participant in 0..<2 {
                recording.participantJoined(id: "p\(participant)", name: "P\(participant)", role: "customer", colorHint: nil)
                for (track, parameters) in tracks[participant].enumerated() {
                    recording.trackAnnounced(participantID: "p\(participant)", trackID: "t\(track)", parameters: parameters)
                }
            }
            return recording
        }
        let pacer = Pacer()
        for item in timeline {
            pacer.wait(untilMediaTime: item.time)
            for recording in recordings {
                recording.receive(participantID: "p\(item.participant)", trackID: "t\(item.track)", packet: item.packet, capturedUs: nil)
            }
        }
        var ended: [Date] = []
        for recording in recordings {
            recording.end(interruptedBy: nil)
            ended.append(Date())
        }
        let results = try recordings.map { try $0.finish(interruptedBy: nil) }

        var sent: [String: Int] = [:]
        for item in timeline { sent["p\(item.participant)/t\(item.track)", default: 0] += 1 }
        var deferred = 0
        for (index, result) in results.enumerated() {
            let manifest = try JSONDecoder().decode(RecordingManifest.self, from: Data(contentsOf: URL(fileURLWithPath: result.manifestPath)))
            var kept: [String: Int] = [:]
            for track in manifest.originals?.tracks ?? [] { kept["\(track.participant)/\(track.track)"] = track.packets }
            XCTAssertEqual(kept, sent, "session \(index): every packet sent is in the originals")
            XCTAssertEqual(result.errors.droppedQueueFull, 0)
            XCTAssertEqual(recordings[index].droppedPackets, 0)
            // Its session runs from its worker opening it (the manifest's wall-clock start) to its end.
            let start = try XCTUnwrap(ISO8601.parse(manifest.wallClockStart))
            XCTAssertEqual(result.duration, ended[index].timeIntervalSince(start), accuracy: 0.3, "session \(index)'s length")
            if result.composite.state != "rendered" {
                deferred += 1
                XCTAssertEqual(result.composite.state, "queued", result.composite.reason ?? "")
                XCTAssertFalse(FileManager.default.fileExists(atPath: result.recordingPath), "no partial composite is left")
                try CompositeJob.render(directory: result.directory, key: nil, logger: logger)
            }
            let composite = try probe(result.recordingPath)
            XCTAssertEqual(composite.duration, result.duration, accuracy: 0.4, "session \(index)'s composite is whole")
            let decoded = try decode(result.recordingPath, picturesAt: [seconds / 2])
            assertColor(decoded.pictures[seconds / 2], 320, 360, red, "session \(index): the first participant's tile")
            XCTAssertTrue(decoded.hasTone(440, 2, 6) && decoded.hasTone(880, 2, 6), "session \(index): both are heard")
        }
        print("overload: \(sessions) sessions, \(deferred) live composites deferred and rendered after")
    }
}
