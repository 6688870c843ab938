import Foundation
import PolicyHost
import Recorder

/// A manifest turned into the catalog's rows.
struct CatalogEntry {
    var row: RecordingRow
    var participants: [ParticipantRow]
    /// The policy decisions on the recording's timeline.
    var decisions: [AuditRecord]

    init(manifest: RecordingManifest, directory: String) {
        row = RecordingRow(
            id: manifest.recordingID, contact: manifest.contact, directory: directory, file: manifest.file, status: manifest.status,
            wallClockStart: manifest.wallClockStart, wallClockEnd: manifest.wallClockEnd,
            startTime: WallClock.parse(manifest.wallClockStart)?.timeIntervalSince1970,
            durationSeconds: manifest.durationSeconds, sha256: manifest.sha256,
            participantList: manifest.participants.map(\.id).joined(separator: ","))
        participants = manifest.participants.map {
            ParticipantRow(recordingID: manifest.recordingID, participantID: $0.id, name: $0.name, role: $0.role, joinedAt: $0.joinedAt, leftAt: $0.leftAt)
        }
        decisions = manifest.events.compactMap(DecisionEvent.audit(in:))
    }

    /// The public view of this entry.
    var recording: CatalogRecording { Self.recording(row, participants) }

    static func recording(_ row: RecordingRow, _ participants: [ParticipantRow]) -> CatalogRecording {
        CatalogRecording(
            id: row.id, contact: row.contact, directory: row.directory, file: row.file, status: row.status,
            wallClockStart: row.wallClockStart, wallClockEnd: row.wallClockEnd, durationSeconds: row.durationSeconds, sha256: row.sha256,
            participants: participants.map {
                CatalogParticipant(id: $0.participantID, name: $0.name, role: $0.role, joinedAt: $0.joinedAt, leftAt: $0.leftAt)
            })
    }
}

extension CatalogDecision {
    /// The catalog's view of an audit record.
    init(audit: AuditRecord) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let plugins = (try? encoder.encode(audit.plugins)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
        self.init(
            decisionID: audit.decisionID, contact: audit.request.contactID, time: audit.time, answer: audit.answer.rawValue,
            reason: audit.reason, fallbackUsed: audit.fallbackUsed, fallbackCause: audit.fallbackCause, chain: audit.chain,
            pluginsJSON: plugins)
    }

    /// The plugins consulted, decoded (empty when the JSON is not readable).
    public var plugins: [PluginConsultation] {
        (try? JSONDecoder().decode([PluginConsultation].self, from: Data(pluginsJSON.utf8))) ?? []
    }
}

/// The `decision` events of a recording's timeline: `fields.audit` holds the JSON of the audit record.
enum DecisionEvent {
    static let kind = "decision"

    /// The audit record of a decision event; nil for other events or an unreadable record.
    static func audit(in event: TimelineEvent) -> AuditRecord? {
        guard event.kind == kind, let json = event.fields["audit"] else { return nil }
        return try? JSONDecoder().decode(AuditRecord.self, from: Data(json.utf8))
    }
}
