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
        /// Its number in the originals file.
        public var number: Int?
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

    public var formatVersion = RecordingManifest.currentFormatVersion
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
    /// The record: every packet as received (``OriginalsFile``). Sealed, hashed, signed and chained.
    public var file = OriginalsFile.fileName
    public var container = OriginalsFile.containerName
    public var width: Int32, height: Int32, fps: Int32
    public var layout: Layout
    /// The part's length on the session clock: from its start to its end.
    public var durationSeconds: Double?
    /// SHA-256 of the finished `file` (the originals), hex.
    public var sha256: String?
    /// The originals: the file, its size, and what each track holds.
    public var originals: OriginalsSummary?
    /// The composite derived from the originals, and its state.
    public var composite: CompositeState?
    public var participants: [Participant] = []
    public var layoutChanges: [LayoutChange] = []
    public var events: [TimelineEvent] = []
    public var errors = RecordingErrorCounts()
    /// Human-readable descriptions of problems (first ones only).
    public var problems: [String] = []

    /// The recording's id: the session's, with `-part<N>` for the parts after the first.
    /// `formatVersion` 2: `file` is the originals; the composite is described in `composite`.
    public static let currentFormatVersion = 2

    public var recordingID: String { RecordingManifest.recordingID(session: session, part: part) }

    /// The folder a recording is written in, under its day's: its id made safe as a path component (and,
    /// should that folder hold another recording already, `-2`, `-3`, …).
    public static func folderName(for recordingID: String) -> String { safeFileName(recordingID) }

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

/// The manifest's `originals`: the record's file and what it holds.
public struct OriginalsSummary: Codable, Sendable, Equatable {
    public struct Track: Codable, Sendable, Equatable {
        public var number: Int
        public var participant: String
        public var track: String
        public var kind: MediaKind
        public var codec: MediaCodec
        /// Packets kept, and their payload bytes.
        public var packets: Int
        public var bytes: Int
    }

    public var path: String
    public var format: String
    /// The file's size in bytes.
    public var bytes: UInt64
    public var sha256: String?
    public var tracks: [Track]
}

/// The manifest's `composite`: the viewing copy (`recording.mp4`) derived from the originals.
public struct CompositeState: Codable, Sendable, Equatable {
    /// `live` (being made as the session goes), `queued` (to be rendered by the bot when it has
    /// headroom), `on-demand` (rendered when asked), `rendered`, `failed`.
    public var state: String
    public var path: String
    /// How it is, or was, made: `live` or `after`.
    public var mode: String?
    public var settings: CompositeSettings
    public var renderer: String
    public var sha256: String?
    public var duration: Double?
    /// Problems met decoding and compositing (the originals are untouched by them).
    public var errors: RecordingErrorCounts?
    /// Why it was deferred or failed.
    public var reason: String?

    public static let fileName = "recording.mp4"
}
