import Digest
import Evidence
import Foundation
import Recorder

/// Retention and legal hold: a held recording is never purged; a purge removes the media of expired
/// recordings, keeps their signed manifests, and writes a signed tombstone into the chain (what was
/// removed, when, why), so that `verify --all` still passes and accounts for it. Holds and releases signed
/// with the recorder's key are chain entries too (`hold`, `release`): the chain then shows that no purge
/// came while a hold stood, whatever files are edited. Every hold, release and purge is also appended
/// to `<recordings>/audit.jsonl` (unsigned: a log, not evidence).
public enum Retention {
    public static let holdFile = "hold.json"
    public static let purgedFile = "purged.json"
    public static let auditFile = "audit.jsonl"

    /// A legal hold (or its release, or a purge), as `audit.jsonl` and `hold.json` keep it.
    public struct Record: Codable, Sendable, Equatable {
        public var action: String
        public var recording: String
        public var reason: String?
        public var time: String
        /// Purges: the files removed, and the tombstone's place in the chain.
        public var removed: [String]?
        public var tombstone: Int?
        public var keyID: String?
    }

    /// What a purge did (or, dry, would do) to one recording.
    public struct Purged: Sendable {
        public var recording: String
        public var removed: [String]
        public var tombstone: Int?
    }

    /// Puts `id` on legal hold; with `key`, the hold is a signed entry of the chain (the `tombstone` field names it).
    public static func hold(_ catalog: RecordingsCatalog, id: String, reason: String, key: SigningKey? = nil) throws {
        let directory = try directory(catalog, id)
        let entry = try key.map { try chain(catalog, key: $0, kind: "hold", id: id, directory: directory, reason: reason) }
        let record = Record(action: "hold", recording: id, reason: reason, time: entry?.time ?? now(), tombstone: entry?.seq, keyID: key?.keyID)
        try encoder.encode(record).write(to: URL(fileURLWithPath: directory + "/" + holdFile), options: .atomic)
        try audit(catalog, record)
    }

    /// Ends the hold on `id`; with `key`, a signed `release` entry of the chain.
    public static func release(_ catalog: RecordingsCatalog, id: String, key: SigningKey? = nil) throws {
        let directory = try directory(catalog, id)
        guard FileManager.default.fileExists(atPath: directory + "/" + holdFile) else { throw EvidenceError("\(id) is not held") }
        let entry = try key.map { try chain(catalog, key: $0, kind: "release", id: id, directory: directory, reason: "legal hold released") }
        try FileManager.default.removeItem(atPath: directory + "/" + holdFile)
        try audit(catalog, Record(action: "release", recording: id, time: entry?.time ?? now(), tombstone: entry?.seq, keyID: key?.keyID))
    }

    /// Records an export in the chain: who took a bundle of `id` out, and of which manifest.
    @discardableResult
    public static func recordExport(_ catalog: RecordingsCatalog, id: String, bundle: String, key: SigningKey) throws -> ChainEntry {
        try chain(catalog, key: key, kind: "export", id: id, directory: try directory(catalog, id), reason: "bundle \((bundle as NSString).lastPathComponent)")
    }

    private static func chain(_ catalog: RecordingsCatalog, key: SigningKey, kind: String, id: String, directory: String, reason: String) throws -> ChainEntry {
        let manifest = SHA256.hex(of: FileManager.default.contents(atPath: directory + "/manifest.json") ?? Data())
        return try Chain.append(root: catalog.root, key: key, kind: kind, recording: id, manifestSHA256: manifest, reason: reason)
    }

    /// Recordings the chain at `path` shows on hold (a `hold` entry with no `release` after it).
    public static func heldInChain(_ entries: [ChainEntry]) -> [String: Int] {
        var held: [String: Int] = [:]
        for entry in entries {
            if entry.kind == "hold" { held[entry.recording] = entry.seq }
            if entry.kind == "release" { held[entry.recording] = nil }
        }
        return held
    }

    /// The hold on `id`, if any.
    public static func holdRecord(_ catalog: RecordingsCatalog, id: String) -> Record? {
        guard let directory = try? directory(catalog, id), let data = FileManager.default.contents(atPath: directory + "/" + holdFile) else { return nil }
        return try? JSONDecoder().decode(Record.self, from: data)
    }

    /// The purge record of `id`, if its media was purged.
    public static func purgeRecord(directory: String) -> Record? {
        guard let data = FileManager.default.contents(atPath: directory + "/" + purgedFile) else { return nil }
        return try? JSONDecoder().decode(Record.self, from: data)
    }

    /// Purges the media of every finished recording that started more than `days` days ago (0: every
    /// one) and is not held. `key` signs the tombstones; with `dryRun`, nothing changes.
    public static func purge(_ catalog: RecordingsCatalog, olderThanDays days: Double, dryRun: Bool, key: SigningKey?, now date: Date = Date())
        throws -> [Purged]
    {
        guard dryRun || key != nil else { throw EvidenceError("a purge writes signed tombstones: give the signing key") }
        let cutoff = date.addingTimeInterval(-days * 86_400)
        var done: [Purged] = []
        // The chain's word on holds counts as much as hold.json: a hold file deleted by hand lifts nothing.
        let chained = key.map { (try? Chain.entries(path: catalog.root + "/" + Chain.fileName(keyID: $0.keyID))) ?? [] } ?? []
        let heldByChain = heldInChain(chained)
        for recording in try catalog.list() where recording.status != "recording" && heldByChain[recording.id] == nil {
            let directory = catalog.directoryPath(of: recording)
            guard purgeRecord(directory: directory) == nil, !FileManager.default.fileExists(atPath: directory + "/" + holdFile),
                let started = WallClock.parse(recording.wallClockStart), days == 0 || started < cutoff
            else { continue }
            let media = [recording.file, CompositeState.fileName, Derivation.fileName, "review.html", "contactsheet.png", Sealer.fileName]
                .filter { FileManager.default.fileExists(atPath: directory + "/" + $0) }
            guard !dryRun, let key else {
                done.append(Purged(recording: recording.id, removed: media, tombstone: nil))
                continue
            }
            let reason = days == 0 ? "retention: purge of everything not held" : "retention: older than \(days.formatted()) days"
            let manifest = SHA256.hex(of: FileManager.default.contents(atPath: directory + "/manifest.json") ?? Data())
            // The tombstone first: media removed without one would be a silent deletion.
            let entry = try Chain.append(root: catalog.root, key: key, kind: "tombstone", recording: recording.id, manifestSHA256: manifest,
                                         reason: reason, time: date)
            for name in media { try FileManager.default.removeItem(atPath: directory + "/" + name) }
            let record = Record(action: "purge", recording: recording.id, reason: reason, time: EvidenceTime.string(date), removed: media,
                                tombstone: entry.seq, keyID: key.keyID)
            try encoder.encode(record).write(to: URL(fileURLWithPath: directory + "/" + purgedFile), options: .atomic)
            try audit(catalog, record)
            done.append(Purged(recording: recording.id, removed: media, tombstone: entry.seq))
        }
        return done
    }

    private static func directory(_ catalog: RecordingsCatalog, _ id: String) throws -> String {
        guard let recording = try catalog.recording(id: id) else { throw EvidenceError("no recording \(id) in \(catalog.root)") }
        return catalog.directoryPath(of: recording)
    }

    private static func audit(_ catalog: RecordingsCatalog, _ record: Record) throws {
        let compact = JSONEncoder()
        compact.outputFormatting = [.sortedKeys]
        var line = try compact.encode(record)
        line.append(0x0a)
        let path = catalog.root + "/" + auditFile
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: line)
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return encoder
    }()

    private static func now() -> String { EvidenceTime.string(Date()) }
}
