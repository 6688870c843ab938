import Foundation
import GRDB
import Logging
import PolicyHost
import Recorder

/// What ``RecordingsCatalog/indexNewManifests()`` found.
public struct ManifestScan: Sendable {
    /// A manifest that could not be indexed.
    public struct Failure: Sendable {
        /// The recording's directory, relative to the root.
        public var directory: String
        /// What is wrong, naming the file.
        public var problem: String
    }
    /// Manifests indexed.
    public var indexed: Int
    /// Manifests that could not be read.
    public var unreadable: [Failure]
}

/// The index of every recording and policy decision under a recordings root, kept in SQLite
/// (`<root>/catalog.sqlite` by default).
///
/// The manifests on disk are the truth; the catalog is an index of them that can always be rebuilt.
/// A catalog file that is missing or damaged (not a database, wrong schema) is rebuilt from the manifests
/// and the decisions log when it is opened, with a logged warning. Safe to use from several threads and
/// processes (SQLite locking; writers wait up to 10 s for each other).
public final class RecordingsCatalog: Sendable {
    /// The catalog's default file name, inside the recordings root.
    public static let defaultFileName = "catalog.sqlite"
    /// The decisions audit log the bot appends to, inside the recordings root.
    public static let decisionsLogName = "decisions.jsonl"

    /// The recordings root (the directory holding `<yyyy-mm-dd>/<session-id>/`).
    public let root: String
    /// The SQLite file.
    public let databasePath: String
    private let database: DatabaseQueue
    private let logger: Logger
    /// Who completes abandoned recordings met while indexing (the bot, with its key); nil: sealed ones are left abandoned.
    public let completer: AbandonedRecording.Completer?

    /// Opens the catalog of the recordings under `root`, creating or rebuilding it when needed.
    /// - Parameters:
    ///   - root: the recordings root.
    ///   - databasePath: the SQLite file; `<root>/catalog.sqlite` when nil.
    ///   - creatingRoot: create `root` when it does not exist (the recorder does; readers do not).
    /// - Throws: ``CatalogError`` when `root` is not a directory or the catalog cannot be created.
    public init(root: String, databasePath: String? = nil, creatingRoot: Bool = false, completer: AbandonedRecording.Completer? = nil,
                logger: Logger) throws {
        self.completer = completer
        if creatingRoot {
            do { try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true) } catch {
                throw CatalogError(path: root, problem: "cannot create the recordings directory: \(error.localizedDescription)")
            }
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CatalogError(path: root, problem: "no recordings directory here")
        }
        self.root = (root as NSString).standardizingPath
        self.databasePath = databasePath ?? self.root + "/" + Self.defaultFileName
        self.logger = logger
        let opened = try CatalogFile.open(self.databasePath, logger: logger)
        database = opened.database
        if opened.needsRebuild { try rebuild() }
    }

    // MARK: Indexing

    /// Indexes (or re-indexes) the recording whose `manifest.json` is at `path`, and the policy decisions
    /// on its timeline. Idempotent: indexing the same manifest again replaces its entry.
    /// - Returns: the recording as catalogued.
    /// - Throws: ``CatalogError`` when the manifest is missing, unreadable or outside the root.
    @discardableResult
    public func index(manifestAt path: String) throws -> CatalogRecording {
        let entry = try load(manifestAt: path)
        try database.write { db in try store(entry, db) }
        return entry.recording
    }

    /// Indexes one policy decision (idempotent: the decision id is the key).
    public func index(decision: AuditRecord) throws {
        try database.write { db in try DecisionRow(audit: decision).upsert(db) }
    }

    /// Replaces the catalog's contents, in one transaction, with every `manifest.json` under the root and
    /// every line of `<root>/decisions.jsonl`. Unreadable manifests and lines are skipped with a warning.
    /// - Returns: how many recordings and decisions were indexed.
    @discardableResult
    public func rebuild() throws -> (recordings: Int, decisions: Int) {
        AbandonedRecording.completeAll(under: root, completer: completer)
        var entries: [CatalogEntry] = []
        for path in ManifestFile.all(under: root) {
            do { entries.append(try load(manifestAt: path)) } catch { logger.warning("catalog rebuild: skipped \(error)") }
        }
        let logged = DecisionsLog(path: root + "/" + Self.decisionsLogName, logger: logger).records()
        try database.write { db in
            try ParticipantRow.deleteAll(db)
            try RecordingRow.deleteAll(db)
            try DecisionRow.deleteAll(db)
            for entry in entries { try store(entry, db) }
            for record in logged { try DecisionRow(audit: record).upsert(db) }
        }
        let decisions = try database.read { db in try DecisionRow.fetchCount(db) }
        logger.info("catalog rebuilt from \(root): \(entries.count) recordings, \(decisions) decisions")
        return (entries.count, decisions)
    }

    /// Indexes the manifests under the root that the catalog does not have yet or has as unfinished
    /// (a recording still in progress when last indexed), so that readers see recordings nobody indexed.
    /// Finished entries are left as they are: they keep the hash they were catalogued with.
    /// - Returns: how many manifests were indexed, and the ones that could not be (what is wrong with each).
    @discardableResult
    public func indexNewManifests() throws -> ManifestScan {
        let settled = try database.read { db in
            try Set(String.fetchAll(db, sql: "SELECT directory FROM recordings WHERE status != 'recording'"))
        }
        var scan = ManifestScan(indexed: 0, unreadable: [])
        for path in ManifestFile.all(under: root) {
            guard let directory = try? relativeDirectory(ofManifestAt: path), !settled.contains(directory) else { continue }
            _ = try? AbandonedRecording.completeIfAbandoned(directory: (path as NSString).deletingLastPathComponent, completer: completer)
            do {
                try index(manifestAt: path)
                scan.indexed += 1
            } catch let error as CatalogError {
                logger.warning("catalog: skipped \(error)")
                scan.unreadable.append(ManifestScan.Failure(directory: directory, problem: "\(error)"))
            }
        }
        return scan
    }

    /// Reads a manifest into the rows it becomes, with the decisions on its timeline.
    private func load(manifestAt path: String) throws -> CatalogEntry {
        CatalogEntry(manifest: try ManifestFile.read(path), directory: try relativeDirectory(ofManifestAt: path))
    }

    /// Writes an entry, replacing whatever the catalog had for its id or its directory.
    private func store(_ entry: CatalogEntry, _ db: Database) throws {
        if let previous = try RecordingRow.fetchOne(db, key: entry.row.id), previous.directory != entry.row.directory {
            logger.warning("catalog: recording \(entry.row.id) moves from \(previous.directory) to \(entry.row.directory)")
        }
        try RecordingRow.filter(Column("directory") == entry.row.directory).deleteAll(db)
        try ParticipantRow.filter(Column("recordingID") == entry.row.id).deleteAll(db)
        try entry.row.upsert(db)
        for participant in entry.participants { try participant.insert(db) }
        for decision in entry.decisions { try DecisionRow(audit: decision).upsert(db) }
        try Self.enqueueForFleet(directory: entry.row.directory, db)
    }

    // MARK: The fleet outbox

    private static func enqueueForFleet(directory: String, _ db: Database) throws {
        try db.execute(sql: "INSERT OR REPLACE INTO fleetOutbox (directory, queuedAt) VALUES (?, ?)", arguments: [directory, Date().timeIntervalSince1970])
    }

    /// Queues the recording in `directory` (relative to the root) for the fleet catalog again: its storage or
    /// evidence changed.
    public func enqueueForFleet(directory: String) throws {
        try database.write { db in try Self.enqueueForFleet(directory: directory, db) }
    }

    /// Recordings waiting for the fleet catalog, oldest first: (directory relative to the root, when queued).
    public func fleetOutbox(limit: Int = 100) throws -> [(directory: String, queuedAt: Double)] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT directory, queuedAt FROM fleetOutbox ORDER BY queuedAt LIMIT ?", arguments: [limit]).map { ($0["directory"], $0["queuedAt"]) }
        }
    }

    /// Takes `directory` off the outbox if it was not queued again after `queuedAt` (it changed meanwhile: it goes again).
    public func fleetDelivered(directory: String, queuedAt: Double) throws {
        try database.write { db in
            try db.execute(sql: "DELETE FROM fleetOutbox WHERE directory = ? AND queuedAt <= ?", arguments: [directory, queuedAt])
        }
    }

    // MARK: Queries

    /// The recordings, oldest first, optionally only those of a contact, with a participant, or started
    /// at or after a time.
    public func list(contact: String? = nil, participant: String? = nil, since: Date? = nil) throws -> [CatalogRecording] {
        try database.read { db in
            var request = RecordingRow.all()
            if let contact { request = request.filter(Column("contact") == contact) }
            if let participant {
                request = request.filter(sql: "id IN (SELECT recordingID FROM participants WHERE participantID = ?)", arguments: [participant])
            }
            if let since { request = request.filter(Column("startTime") >= since.timeIntervalSince1970) }
            return try request.order(Column("startTime"), Column("id")).fetchAll(db).map { try recording($0, db) }
        }
    }

    /// The catalogued recording `id`, or nil when the catalog has none.
    public func recording(id: String) throws -> CatalogRecording? {
        try database.read { db in try RecordingRow.fetchOne(db, key: id).map { try recording($0, db) } }
    }

    /// The manifest of recording `id`, read from disk now; nil when the catalog has no such recording.
    /// - Throws: ``CatalogError`` when the manifest file is missing or unreadable.
    public func manifest(id: String) throws -> RecordingManifest? {
        guard let entry = try recording(id: id) else { return nil }
        return try ManifestFile.read(manifestPath(of: entry))
    }

    /// The policy decisions, oldest first, optionally only those about one contact.
    public func decisions(contact: String? = nil) throws -> [CatalogDecision] {
        try database.read { db in
            var request = DecisionRow.all()
            if let contact { request = request.filter(Column("contact") == contact) }
            return try request.order(Column("time"), Column("decisionID")).fetchAll(db).map(\.decision)
        }
    }

    /// The absolute path of a recording's directory.
    public func directoryPath(of recording: CatalogRecording) -> String { root + "/" + recording.directory }

    /// The absolute path of a recording's media file.
    public func filePath(of recording: CatalogRecording) -> String { directoryPath(of: recording) + "/" + recording.file }

    /// The absolute path of a recording's manifest.
    public func manifestPath(of recording: CatalogRecording) -> String { directoryPath(of: recording) + "/" + ManifestFile.name }

    private func recording(_ row: RecordingRow, _ db: Database) throws -> CatalogRecording {
        let participants = try ParticipantRow.filter(Column("recordingID") == row.id).order(Column("joinedAt")).fetchAll(db)
        return CatalogEntry.recording(row, participants)
    }

    private func relativeDirectory(ofManifestAt path: String) throws -> String {
        let directory = ((path as NSString).deletingLastPathComponent as NSString).standardizingPath
        let absolute = directory.hasPrefix("/") ? directory : FileManager.default.currentDirectoryPath + "/" + directory
        let base = root.hasPrefix("/") ? root : FileManager.default.currentDirectoryPath + "/" + root
        let rootPrefix = (base as NSString).standardizingPath + "/"
        let standardized = (absolute as NSString).standardizingPath
        guard standardized.hasPrefix(rootPrefix) else {
            throw CatalogError(path: path, problem: "manifest is not under the recordings root \(root)")
        }
        return String(standardized.dropFirst(rootPrefix.count))
    }
}
