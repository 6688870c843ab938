import Foundation
import GRDB
import PolicyHost

/// One participant of a catalogued recording, as the manifest lists them.
public struct CatalogParticipant: Codable, Sendable, Equatable {
    /// The participant's id in the session.
    public var id: String
    /// The participant's display name.
    public var name: String
    /// `customer`, `agent`, `supervisor`...
    public var role: String
    /// Seconds on the session clock.
    public var joinedAt: Double
    /// Seconds on the session clock; nil while still in the session.
    public var leftAt: Double?

    public init(id: String, name: String, role: String, joinedAt: Double, leftAt: Double?) {
        (self.id, self.name, self.role, self.joinedAt, self.leftAt) = (id, name, role, joinedAt, leftAt)
    }
}

/// One recording in the catalog: where it is and what its manifest says about it.
public struct CatalogRecording: Codable, Sendable, Equatable {
    /// The manifest's `session`.
    public var id: String
    /// The contact the session belongs to.
    public var contact: String
    /// The recording's directory, relative to the recordings root (e.g. `2026-11-27/room-1`).
    public var directory: String
    /// The media file's name inside `directory` (e.g. `recording.mp4`).
    public var file: String
    /// `recording`, `finished` or `failed`.
    public var status: String
    /// ISO 8601 wall-clock times from the manifest.
    public var wallClockStart: String
    public var wallClockEnd: String?
    /// Seconds of media in the file.
    public var durationSeconds: Double?
    /// The SHA-256 the manifest gave the file when it was indexed.
    public var sha256: String?
    /// Who took part, in joining order.
    public var participants: [CatalogParticipant]

    public init(id: String, contact: String, directory: String, file: String, status: String, wallClockStart: String, wallClockEnd: String?,
                durationSeconds: Double?, sha256: String?, participants: [CatalogParticipant]) {
        (self.id, self.contact, self.directory, self.file, self.status) = (id, contact, directory, file, status)
        (self.wallClockStart, self.wallClockEnd, self.durationSeconds, self.sha256, self.participants) = (wallClockStart, wallClockEnd, durationSeconds, sha256, participants)
    }
}

/// One policy decision in the catalog (from the audit log or a recording's timeline).
public struct CatalogDecision: Codable, Sendable, Equatable {
    /// The policy host's id for the decision.
    public var decisionID: String
    /// The contact the upgrade request was about.
    public var contact: String
    /// ISO 8601 UTC time of the decision.
    public var time: String
    /// `accept`, `refuse` or `askAgent`.
    public var answer: String
    /// Why, as the deciding plugin said.
    public var reason: String
    /// True when a plugin failed and the policy's fail mode answered; `fallbackCause` says why.
    public var fallbackUsed: Bool
    public var fallbackCause: String?
    /// Which chain answered (`default`, `agents.A1`...).
    public var chain: String
    /// The plugins consulted, as the JSON array of the audit record.
    public var pluginsJSON: String
}

// MARK: Rows

/// A row of `recordings`.
struct RecordingRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "recordings"
    var id: String
    var contact: String
    var directory: String
    var file: String
    var status: String
    var wallClockStart: String
    var wallClockEnd: String?
    var startTime: Double?
    var durationSeconds: Double?
    var sha256: String?
    /// The participants' ids, comma-separated, for display without a join.
    var participantList: String
}

/// A row of `participants`.
struct ParticipantRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "participants"
    var recordingID: String
    var participantID: String
    var name: String
    var role: String
    var joinedAt: Double
    var leftAt: Double?
}

/// A row of `decisions`: a ``CatalogDecision`` as stored.
struct DecisionRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "decisions"
    var decision: CatalogDecision

    init(audit: AuditRecord) { decision = CatalogDecision(audit: audit) }
    init(from decoder: any Decoder) throws { decision = try CatalogDecision(from: decoder) }
    func encode(to encoder: any Encoder) throws { try decision.encode(to: encoder) }
}
