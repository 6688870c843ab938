import Foundation
import Logging
import Media
import TestKit
import PolicyHost
import Recorder
import XCTest

/// Real recordings made once per test run (LiveRecording fed by TestSource, unpaced on a manual clock),
/// copied into a fresh recordings root for each test.
enum Fixtures {
    static let logger = Logger(label: "test.catalog")

    /// A participant of a fixture recording.
    struct Person {
        var id: String, name: String, role: String, color: RGB, tone: Double
    }

    static let alice = Person(id: "alice", name: "Alice", role: "customer", color: red, tone: 440)
    static let bob = Person(id: "bob", name: "Bob", role: "agent", color: blue, tone: 660)
    static let carol = Person(id: "carol", name: "Carol", role: "customer", color: green, tone: 880)

    /// An audit record as the policy host writes it (decoded from JSON: the type has no public initialiser).
    static func audit(id: String, contact: String, answer: String = "accept", time: String = "2026-01-10T10:00:01Z") -> AuditRecord {
        let json = """
            {"decisionID":"\(id)","time":"\(time)","policyFile":"policy.json","chain":"default","isolation":"process",
             "failMode":"refuse","deadlineMs":500,
             "request":{"contactID":"\(contact)","customer":{"id":"alice"},"agent":{"id":"bob"},"request":{"useAudio":true,"useVideo":true}},
             "plugins":[{"plugin":"BusinessHours","verdict":"abstain","reason":"no hours configured","latencyMicroseconds":12},
                        {"plugin":"AcceptAll","verdict":"\(answer)","reason":"everyone is welcome","latencyMicroseconds":8}],
             "answer":"\(answer)","reason":"AcceptAll: everyone is welcome","fallbackUsed":false,"latencyMicroseconds":30}
            """
        return try! JSONDecoder().decode(AuditRecord.self, from: Data(json.utf8))
    }

    /// The template root, made on first use: `rec-a` (contact-1: Alice, Bob, 3 s, a request, an answer, a
    /// decision, chat; started 2026-01-10) and `rec-b` (contact-2: Carol, Bob, 2 s, started now), and a
    /// `decisions.jsonl` with the decision of rec-a and one of contact-3.
    static let template: Result<String, Error> = Result {
        let root = templateRoot
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: Fixtures.templateRoot) }
        let a = try record(root: root, session: "rec-a", contact: "contact-1", people: [alice, bob], seconds: 3) { recording in
            recording.record(event: TimelineEvent(kind: "request", time: 0, fields: [
                "requestID": "req-1", "from": "alice", "divID": "video", "useAudio": "true", "useVideo": "true"]))
            recording.record(event: TimelineEvent(kind: "decision", time: 0.1, fields: [
                "decisionID": "dec-1", "audit": String(decoding: try! JSONEncoder().encode(audit(id: "dec-1", contact: "contact-1")), as: UTF8.self)]))
            recording.record(event: TimelineEvent(kind: "answer", time: 0.2, fields: [
                "requestID": "req-1", "response": "true", "by": "bob", "reason": "AcceptAll: everyone is welcome", "automatic": "true"]))
            recording.record(event: TimelineEvent(kind: "chat", time: 1.5, fields: ["from": "alice", "text": "can you see me?", "seq": "3"]))
        }
        try setManifestField(a + "/manifest.json", "wallClockStart", "2026-01-10T10:00:00.000Z")
        _ = try record(root: root, session: "rec-b", contact: "contact-2", people: [carol, bob], seconds: 2) { _ in }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let lines = try [audit(id: "dec-1", contact: "contact-1"), audit(id: "dec-9", contact: "contact-3", answer: "refuse", time: "2026-01-11T09:00:00Z")]
            .map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        try (lines.joined(separator: "\n") + "\n{\"not\": \"an audit record\"}\n").write(toFile: root + "/decisions.jsonl", atomically: true, encoding: .utf8)
        return root
    }

    /// Where the template is made; removed when the test process exits.
    static let templateRoot = FileManager.default.temporaryDirectory.appendingPathComponent("catalog-fixture-\(getpid())").path

    /// A copy of the template root for one test, removed when the test ends.
    static func recordingsRoot(_ test: XCTestCase) throws -> String {
        let root = try temporaryDirectory(test) + "/Recordings"
        try FileManager.default.copyItem(atPath: try template.get(), toPath: root)
        return root
    }

    /// The directory of fixture recording `session` under `root`.
    static func directory(_ session: String, in root: String) throws -> String {
        let days = try FileManager.default.contentsOfDirectory(atPath: root).filter { !$0.contains(".") }
        for day in days where FileManager.default.fileExists(atPath: "\(root)/\(day)/\(session)/manifest.json") { return "\(root)/\(day)/\(session)" }
        throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "\(root)/*/\(session)"])
    }

    /// Records a session: each person joins at 0 and sends `seconds` of a test pattern; the last one leaves at
    /// `seconds - 0.5`.
    private static func record(
        root: String, session: String, contact: String, people: [Person], seconds: Double, events: (LiveRecording) -> Void
    ) throws -> String {
        var configuration = RecordingConfiguration(root: root, sessionID: session, contactID: contact, layout: .grid)
        configuration.width = 320
        configuration.height = 180
        configuration.fps = 15
        configuration.preset = "ultrafast"
        configuration.queueCapacity = 100_000
        configuration.maximumCompositeLag = nil  // fed unpaced on a manual clock: the live composite draws every picture
        let clock = ManualSessionClock()
        let recording = try LiveRecording(configuration: configuration, clock: clock, logger: logger)
        var packets: [(time: Double, person: String, track: Int, packet: EncodedPacket)] = []
        for person in people {
            let source = try TestSource(color: person.color, toneHz: person.tone, width: 160, height: 90, fps: 15, durationSeconds: seconds)
            recording.participantJoined(id: person.id, name: person.name, role: person.role, colorHint: person.color)
            for (index, track) in source.tracks.enumerated() {
                recording.trackAnnounced(participantID: person.id, trackID: "t\(index)", parameters: track)
            }
            var origins: [Int: Int64] = [:]
            while let (track, packet) = try source.nextPacket() {
                let origin = origins[track] ?? packet.pts
                origins[track] = origin
                packets.append((Double(packet.pts - origin) * source.tracks[track].timeBase, person.id, track, packet))
            }
        }
        events(recording)
        let leaver = people.last!.id
        var left = false
        for item in packets.sorted(by: { $0.time < $1.time }) {
            if !left && item.time >= seconds - 0.5 {
                clock.set(seconds - 0.5)
                recording.participantLeft(id: leaver)
                left = true
            }
            if left && item.person == leaver { continue }
            clock.set(item.time)
            recording.receive(participantID: item.person, trackID: "t\(item.track)", packet: item.packet)
        }
        clock.set(seconds)
        return try recording.finish().directory
    }

    /// Rewrites one top-level string field of a manifest (the media file and its hash are untouched).
    static func setManifestField(_ path: String, _ key: String, _ value: Any) throws {
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        object[key] = value
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: path))
    }

    /// Flips one byte of the file at `path`, at `fraction` of its length.
    static func flipByte(_ path: String, at fraction: Double = 0.5) throws {
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        let index = Int(Double(data.count) * fraction)
        data[index] ^= 0x01
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// Cuts the file at `path` to `fraction` of its length.
    static func truncate(_ path: String, to fraction: Double) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(Int(Double(data.count) * fraction)).write(to: URL(fileURLWithPath: path))
    }
}
