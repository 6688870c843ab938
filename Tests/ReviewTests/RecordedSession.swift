import Foundation
import Logging
import Media
import TestKit
import Recorder
import XCTest

/// A short real recording made through `LiveRecording` on a manual clock, with the events the bot records:
/// a customer (red, 0–6 s) and an agent (blue, 0–6 s), a supervisor (green) from 3 to 5 s, an upgrade request,
/// a policy decision with two plugins, the answer, and chat messages, two of them hostile.
struct RecordedSession {
    static let hostileChat = ["<script>alert(1)</script>", "</script><img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"]
    static let friendlyChat = "Tom & Jerry say \"hi\" — it's <fine>"
    static let duration = 6.0

    let root: String
    let manifestPath: String
    let recordingPath: String

    /// One participant's media, placed on the session clock from its join time.
    private struct Publisher {
        let id: String, name: String, role: String, color: RGB
        let source: TestSource
        let from: Double, to: Double
        var origins: [Int: Int64] = [:]
        var pending: (track: Int, packet: EncodedPacket)?

        init(id: String, name: String, role: String, color: RGB, tone: Double, from: Double, to: Double) throws {
            self.id = id
            self.name = name
            self.role = role
            self.color = color
            source = try TestSource(color: color, toneHz: tone, width: 320, height: 180, durationSeconds: to - from)
            self.from = from
            self.to = to
        }

        /// The session time of the next packet, reading it if needed; nil at the end.
        mutating func nextTime() throws -> Double? {
            if pending == nil, let next = try source.nextPacket() { pending = (next.trackIndex, next.packet) }
            guard let (track, packet) = pending else { return nil }
            let origin = origins[track] ?? packet.pts
            origins[track] = origin
            return from + Double(packet.pts - origin) * source.tracks[track].timeBase
        }
    }

    /// Records the session under `root`.
    static func make(root: String) throws -> RecordedSession {
        var configuration = RecordingConfiguration(root: root, sessionID: "room-<b>7</b>", contactID: "contact-42", layout: .grid)
        configuration.width = 640
        configuration.height = 360
        configuration.preset = "ultrafast"
        configuration.queueCapacity = 100_000  // fed unpaced: nothing may be dropped
        configuration.maximumCompositeLag = nil  // fed unpaced on a manual clock: the live composite draws every picture
        let clock = ManualSessionClock()
        let recording = try LiveRecording(configuration: configuration, clock: clock, logger: Logger(label: "test.review"))

        var publishers = [
            try Publisher(id: "cust-1", name: "Customer <Carla>", role: "customer", color: red, tone: 440, from: 0, to: duration),
            try Publisher(id: "agent-1", name: "Agent Bob", role: "agent", color: blue, tone: 660, from: 0, to: duration),
            try Publisher(id: "sup-1", name: "Supervisor Sue", role: "supervisor", color: green, tone: 880, from: 3, to: 5),
        ]
        var events: [(time: Double, event: TimelineEvent)] = [
            (0.2, TimelineEvent(kind: "request", fields: ["requestID": "r1", "from": "cust-1", "divID": "video", "useAudio": "true", "useVideo": "true"])),
            (0.25, TimelineEvent(kind: "decision", fields: ["decisionID": "d1", "audit": auditJSON])),
            (0.3, TimelineEvent(kind: "answer", fields: ["requestID": "r1", "response": "true", "by": "agent-1", "reason": "inside business hours", "automatic": "true"])),
            (1.0, TimelineEvent(kind: "chat", fields: ["from": "cust-1", "text": hostileChat[0], "seq": "1"])),
            (1.5, TimelineEvent(kind: "chat", fields: ["from": "cust-1", "text": hostileChat[1], "seq": "2"])),
            (2.5, TimelineEvent(kind: "chat", fields: ["from": "agent-1", "text": friendlyChat, "seq": "3"])),
        ]
        events.sort { $0.time < $1.time }
        var joined = Set<String>(), left = Set<String>()

        while true {
            // The earliest next thing: a packet, an event, a join or a leave.
            var best: (time: Double, index: Int)?
            for index in publishers.indices {
                if let time = try publishers[index].nextTime(), time < best?.time ?? .infinity { best = (time, index) }
            }
            let nextEvent = events.first?.time ?? .infinity
            let nextLeave = publishers.filter { $0.to < duration && !left.contains($0.id) }.map(\.to).min() ?? .infinity
            let now = min(best?.time ?? .infinity, nextEvent, nextLeave)
            guard now.isFinite else { break }
            clock.set(now)
            if nextLeave == now, let leaver = publishers.first(where: { $0.to == now && !left.contains($0.id) }) {
                left.insert(leaver.id)
                recording.participantLeft(id: leaver.id)
            } else if nextEvent == now {
                recording.record(event: events.removeFirst().event)
            } else if let (_, index) = best {
                let publisher = publishers[index]
                if joined.insert(publisher.id).inserted {
                    recording.participantJoined(id: publisher.id, name: publisher.name, role: publisher.role, colorHint: publisher.color)
                    for (track, parameters) in publisher.source.tracks.enumerated() {
                        recording.trackAnnounced(participantID: publisher.id, trackID: "t\(track)", parameters: parameters)
                    }
                }
                let (track, packet) = publishers[index].pending!
                publishers[index].pending = nil
                recording.receive(participantID: publisher.id, trackID: "t\(track)", packet: packet)
            }
        }
        clock.set(duration)
        recording.record(event: TimelineEvent(kind: "end", fields: ["reason": "customer hung up"]))
        let result = try recording.finish()
        return RecordedSession(root: root, manifestPath: result.manifestPath, recordingPath: result.recordingPath)
    }

    /// A policy audit record as the bot embeds it (see `PolicyDelegate.timelineEvent`).
    static let auditJSON = """
        {"answer":"accept","chain":"default","decisionID":"d1","deadlineMs":500,"failMode":"refuse","fallbackUsed":false,\
        "isolation":"process","latencyMicroseconds":812.5,"policyFile":"Plugins/policy.json","reason":"inside business hours",\
        "plugins":[{"plugin":"BusinessHours","version":"1.0","verdict":"accept","reason":"inside business hours <09:00-18:00>","latencyMicroseconds":401.2},\
        {"plugin":"RecordingRequired","version":"1.0","verdict":"abstain","reason":"a recorder is idle","latencyMicroseconds":210.0}],\
        "time":"2026-11-27T01:00:00Z"}
        """
}
