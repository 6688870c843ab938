import Foundation
import Timestamps
import Media

/// Something that happened during the session, placed on the session clock: a request, an answer, a chat
/// message, a join, a loudest-speaker change, a policy decision...
public struct TimelineEvent: Sendable, Codable, Equatable {
    /// What happened: `request`, `answer`, `chat`, `decision`, `join`, `leave`, `loudest`, `layout`, `problem`...
    public var kind: String
    /// Seconds on the session clock; nil means "now" when recorded.
    public var time: Double?
    /// Details, as strings (JSON-encode richer payloads into a field).
    public var fields: [String: String]

    public init(kind: String, time: Double? = nil, fields: [String: String] = [:]) {
        self.kind = kind
        self.time = time
        self.fields = fields
    }
}

/// `manifest.json`: what a reviewer or an auditor needs to know about a recording.
public struct RecordingManifest: Codable, Sendable {
    public struct Track: Codable, Sendable {
        public var id: String
        public var kind: MediaKind
        public var codec: MediaCodec
        public var width: Int32?, height: Int32?, sampleRate: Int32?, channels: Int32?
        public var announcedAt: Double
        public var packets = 0
        public var bytes = 0
        /// The original stream remuxed without re-encoding, relative to the manifest (with `keepTracks`).
        public var keptFile: String?
    }

    public struct Participant: Codable, Sendable {
        public var id: String
        public var name: String
        public var role: String
        public var color: String
        public var joinedAt: Double
        public var leftAt: Double?
        public var tracks: [Track] = []
    }

    public struct LayoutChange: Codable, Sendable {
        public var time: Double
        public var layout: Layout
        public var tiles: [Tile]
    }

    public var formatVersion = 1
    /// `recording` while in progress (what a crash leaves), `finished`, `interrupted` (cut short while
    /// the session went on: the hub or the recorder was lost), or `failed` (it could not be written).
    public var status = "recording"
    /// Why an `interrupted` recording was cut short.
    public var interruption: String?
    /// Which part of the session's recording this is (1, 2 after a takeover, ...); `session` is the same for all parts.
    public var part: Int?
    /// The recorder of the part before this one, when this part took over.
    public var previousRecorder: String?
    /// The recording id of the part before this one, when the same bot continued it (its worker crashed).
    public var previousPart: String?
    public var session: String
    public var contact: String
    public var recorderVersion: String
    public var wallClockStart: String
    public var wallClockEnd: String?
    public var file = "recording.mp4"
    public var container = "fragmented MP4 (H.264 + AAC)"
    public var width: Int32, height: Int32, fps: Int32
    public var layout: Layout
    public var durationSeconds: Double?
    /// SHA-256 of the finished `file`, hex.
    public var sha256: String?
    public var participants: [Participant] = []
    public var layoutChanges: [LayoutChange] = []
    public var events: [TimelineEvent] = []
    public var errors = RecordingErrorCounts()
    /// Longest time the composite fell behind real time (seconds); about one frame when the recorder kept up.
    public var maximumLag = 0.0
    /// Human-readable descriptions of problems (first ones only).
    public var problems: [String] = []

    /// The recording's id: the session's, with `-part<N>` for the parts after the first.
    public var recordingID: String { RecordingManifest.recordingID(session: session, part: part) }

    public static func recordingID(session: String, part: Int?) -> String {
        guard let part, part > 1 else { return session }
        return "\(session)-part\(part)"
    }

    /// Writes the manifest atomically (a crash leaves the old one or the new one, never half of one).
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    public static func timestamp(_ date: Date = Date()) -> String { ISO8601.utcMilliseconds(date) }
}
