import Catalog
import Evidence
import Foundation
import Logging
import PostgresNIO
import Recorder
import Spool

/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`.
public struct PostgresURL: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String

    public init(_ text: String) throws {
        guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme ?? ""), let host = url.host, !host.isEmpty,
              let user = url.user, !user.isEmpty, url.path.count > 1
        else { throw FleetCatalogError("\(text) is not postgres://USER@HOST:PORT/DATABASE") }
        (self.host, port, self.user, password, database) = (host, url.port ?? 5432, user, url.password, String(url.path.dropFirst()))
    }
}

public struct FleetCatalogError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The fleet's catalog in PostgreSQL: every bot writes its recordings here (through ``FleetSync``), and
/// `ctlive recordings --catalog postgres://…` reads them, wherever they were recorded. One schema, changed
/// only by numbered migrations that run once, under an advisory lock (two bots starting together do not race).
/// Writes are idempotent upserts keyed by recording id: writing a recording twice changes nothing.
public final class FleetCatalog: Sendable {
    let client: PostgresClient
    private let running: Task<Void, Never>
    let logger: Logger

    public init(url: String, logger: Logger) throws {
        let parsed = try PostgresURL(url)
        var configuration = PostgresClient.Configuration(host: parsed.host, port: parsed.port, username: parsed.user, password: parsed.password,
                                                         database: parsed.database, tls: .disable)
        configuration.options.connectTimeout = .seconds(5)
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        running = Task { [client] in await client.run() }
        self.logger = logger
    }

    deinit { running.cancel() }

    /// Runs `body` for at most `seconds`: PostgresNIO's pool waits for a connection as long as it is asked to, and a
    /// database that is down must fail an operation (which the caller retries), not hold it forever.
    func withDeadline<T: Sendable>(_ what: String, seconds: Int = 10, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .seconds(seconds))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw FleetCatalogError("\(what): no answer from PostgreSQL within \(seconds) s")
            }
            return value
        }
    }

    /// The migrations, oldest first. A released one is never edited: a change is a new one appended.
    static let migrations: [(version: Int, name: String, sql: [String])] = [
        (1, "recordings, parts, participants, timeline, decisions, files, checkpoints, render jobs", [
            """
            CREATE TABLE recordings (
                id text PRIMARY KEY, session text NOT NULL, part int NOT NULL, contact text NOT NULL, directory text NOT NULL,
                recorder_version text NOT NULL, status text NOT NULL, interruption text,
                wall_clock_start text NOT NULL, start_time double precision, wall_clock_end text, duration_seconds double precision,
                sha256 text, composite_state text, signed_by text, completed_by text,
                location text, upload_state text NOT NULL, manifest jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())
            """,
            "CREATE INDEX recordings_by_start ON recordings (start_time DESC, id)",
            "CREATE INDEX recordings_by_contact ON recordings (contact, start_time DESC)",
            """
            CREATE TABLE participants (
                recording_id text NOT NULL REFERENCES recordings (id) ON DELETE CASCADE, position int NOT NULL, participant_id text NOT NULL,
                name text NOT NULL, role text NOT NULL, joined_at double precision NOT NULL, left_at double precision,
                PRIMARY KEY (recording_id, position))
            """,
            "CREATE INDEX participants_by_id ON participants (participant_id)",
            """
            CREATE TABLE timeline_events (
                recording_id text NOT NULL REFERENCES recordings (id) ON DELETE CASCADE, position int NOT NULL, kind text NOT NULL,
                at double precision, fields jsonb NOT NULL, PRIMARY KEY (recording_id, position))
            """,
            """
            CREATE TABLE decisions (
                decision_id text PRIMARY KEY, recording_id text REFERENCES recordings (id) ON DELETE SET NULL, contact text, answer text,
                reason text, record jsonb NOT NULL)
            """,
            """
            CREATE TABLE stored_files (
                recording_id text NOT NULL REFERENCES recordings (id) ON DELETE CASCADE, name text NOT NULL, object_key text NOT NULL,
                bytes bigint NOT NULL, sha256 text NOT NULL, state text NOT NULL, PRIMARY KEY (recording_id, name))
            """,
            """
            CREATE TABLE chain_checkpoints (
                key_id text NOT NULL, seq int NOT NULL, head text NOT NULL, time text NOT NULL, signature text NOT NULL,
                PRIMARY KEY (key_id, seq))
            """,
            """
            CREATE TABLE render_jobs (
                recording_id text PRIMARY KEY REFERENCES recordings (id) ON DELETE CASCADE, state text NOT NULL, attempts int NOT NULL DEFAULT 0,
                taken_by text, taken_at timestamptz, finished_at timestamptz, error text)
            """,
        ]),
        // The holder says for how long its hold stands without renewal: workers need not agree on one value.
        (2, "render job holds of the holder's own length", ["ALTER TABLE render_jobs ADD COLUMN hold_seconds int"]),
    ]

    /// Brings the schema up to date; returns the migrations applied now.
    @discardableResult
    public func migrate() async throws -> [Int] {
        try await withDeadline("migrate") { [client, logger] in try await Self.migrate(client: client, logger: logger) }
    }

    private static func migrate(client: PostgresClient, logger: Logger) async throws -> [Int] {
        try await client.withTransaction(logger: logger) { connection in
            // One migrator at a time across the fleet (an arbitrary, fixed lock id).
            try await connection.query("SELECT pg_advisory_xact_lock(7263527)", logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS ctlive_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                logger: logger)
            var applied = Set<Int>()
            for try await version in try await connection.query("SELECT version FROM ctlive_migrations", logger: logger).decode(Int.self) {
                applied.insert(version)
            }
            var now: [Int] = []
            for migration in Self.migrations where !applied.contains(migration.version) {
                for statement in migration.sql { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                try await connection.query("INSERT INTO ctlive_migrations (version, name) VALUES (\(migration.version), \(migration.name))", logger: logger)
                now.append(migration.version)
            }
            return now
        }
    }

    // MARK: Writing

    /// Writes the recording in `directory` (`<root>/<relative>`): its manifest, participants, timeline and
    /// decisions, its evidence state, and where its files are (`storage.json`). Idempotent.
    public func upsert(root: String, relative: String) async throws {
        try await withDeadline("write \(relative)") { [self] in try await write(root: root, relative: relative) }
    }

    private func write(root: String, relative: String) async throws {
        let directory = root + "/" + relative
        let manifestData = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + ManifestFile.name))
        let manifest = try JSONDecoder().decode(RecordingManifest.self, from: manifestData)
        let storage = StorageRecord.read(directory: directory)
        let signedBy = (try? ManifestSignature.read(directory: directory))?.keyID
        let completion = try? Completion.read(directory: directory)
        let uploadState = storage.map { $0.isStored ? ($0.removedLocally.isEmpty ? "stored" : "stored, local media removed") : "uploading" } ?? "local"
        let id = manifest.recordingID
        let manifestJSON = String(decoding: manifestData, as: UTF8.self)
        let startTime = WallClock.parse(manifest.wallClockStart)?.timeIntervalSince1970
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("""
                INSERT INTO recordings (id, session, part, contact, directory, recorder_version, status, interruption, wall_clock_start, start_time,
                    wall_clock_end, duration_seconds, sha256, composite_state, signed_by, completed_by, location, upload_state, manifest, updated_at)
                VALUES (\(id), \(manifest.session), \(manifest.part ?? 1), \(manifest.contact), \(relative), \(manifest.recorderVersion), \(manifest.status),
                    \(manifest.interruption), \(manifest.wallClockStart), \(startTime), \(manifest.wallClockEnd), \(manifest.durationSeconds), \(manifest.sha256),
                    \(manifest.composite?.state), \(signedBy), \(completion.map { "\($0.completedBy) (key \($0.keyID))" }), \(storage?.location),
                    \(uploadState), \(manifestJSON)::jsonb, now())
                ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, interruption = EXCLUDED.interruption, directory = EXCLUDED.directory,
                    wall_clock_end = EXCLUDED.wall_clock_end, duration_seconds = EXCLUDED.duration_seconds, sha256 = EXCLUDED.sha256,
                    composite_state = EXCLUDED.composite_state, signed_by = EXCLUDED.signed_by, completed_by = EXCLUDED.completed_by,
                    location = EXCLUDED.location, upload_state = EXCLUDED.upload_state, manifest = EXCLUDED.manifest, updated_at = now()
                """, logger: logger)
            // A recording's rows are replaced whole, a table at a time (one statement each, not one per row: a
            // round trip per statement is what a write costs).
            try await connection.query("""
                WITH p AS (DELETE FROM participants WHERE recording_id = \(id)), t AS (DELETE FROM timeline_events WHERE recording_id = \(id))
                DELETE FROM stored_files WHERE recording_id = \(id)
                """, logger: logger)
            let participants = manifest.participants
            try await connection.query("""
                INSERT INTO participants (recording_id, position, participant_id, name, role, joined_at, left_at)
                SELECT \(id), position - 1, participant_id, name, role, joined_at, NULLIF(left_at, '')::double precision
                FROM unnest(\(participants.map(\.id))::text[], \(participants.map(\.name))::text[], \(participants.map(\.role))::text[],
                    \(participants.map(\.joinedAt))::double precision[], \(participants.map { $0.leftAt.map { "\($0)" } ?? "" })::text[])
                    WITH ORDINALITY AS rows (participant_id, name, role, joined_at, left_at, position)
                """, logger: logger)
            let events = manifest.events
            let fields = try events.map { String(decoding: try JSONEncoder().encode($0.fields), as: UTF8.self) }
            try await connection.query("""
                INSERT INTO timeline_events (recording_id, position, kind, at, fields)
                SELECT \(id), position - 1, kind, NULLIF(at, '')::double precision, fields::jsonb
                FROM unnest(\(events.map(\.kind))::text[], \(events.map { $0.time.map { "\($0)" } ?? "" })::text[], \(fields)::text[])
                    WITH ORDINALITY AS rows (kind, at, fields, position)
                """, logger: logger)
            for event in manifest.events {
                // A policy decision on the timeline: its audit record, keyed by its own id.
                if event.kind == "decision", let audit = event.fields["audit"],
                   let record = try? JSONSerialization.jsonObject(with: Data(audit.utf8)) as? [String: Any], let decisionID = record["decisionID"] as? String {
                    let request = record["request"] as? [String: Any]
                    try await connection.query("""
                        INSERT INTO decisions (decision_id, recording_id, contact, answer, reason, record)
                        VALUES (\(decisionID), \(id), \(request?["contactID"] as? String), \(record["answer"] as? String), \(record["reason"] as? String), \(audit)::jsonb)
                        ON CONFLICT (decision_id) DO UPDATE SET recording_id = EXCLUDED.recording_id
                        """, logger: logger)
                }
            }
            // A composite deferred and not rendered yet is a job any render worker may take; one rendered here is done.
            if manifest.composite?.state == "queued" {
                let rendered = FileManager.default.fileExists(atPath: directory + "/composite.json")
                    || storage?.files.contains { $0.name == "composite.json" } == true
                try await connection.query("""
                    INSERT INTO render_jobs (recording_id, state) VALUES (\(id), \(rendered ? "rendered" : "queued"))
                    ON CONFLICT (recording_id) DO UPDATE SET state = CASE WHEN \(rendered) THEN 'rendered' ELSE render_jobs.state END
                    """, logger: logger)
                if rendered { try await connection.query("UPDATE recordings SET composite_state = 'rendered' WHERE id = \(id)", logger: logger) }
            }
            if let files = storage?.files, !files.isEmpty {
                try await connection.query("""
                    INSERT INTO stored_files (recording_id, name, object_key, bytes, sha256, state)
                    SELECT \(id), * FROM unnest(\(files.map(\.name))::text[], \(files.map(\.key))::text[], \(files.map(\.bytes))::bigint[],
                        \(files.map(\.sha256))::text[], \(files.map(\.state))::text[])
                    """, logger: logger)
            }
        }
    }

    /// Records a recorder's signed chain checkpoint (idempotent).
    public func record(checkpoint: ChainCheckpoint) async throws {
        try await withDeadline("record checkpoint \(checkpoint.seq)") { [client, logger] in
            try await client.query("""
                INSERT INTO chain_checkpoints (key_id, seq, head, time, signature) VALUES (\(checkpoint.keyID), \(checkpoint.seq), \(checkpoint.head),
                    \(checkpoint.time), \(checkpoint.signature)) ON CONFLICT DO NOTHING
                """, logger: logger)
        }
    }

    /// The newest checkpoint recorded of each recorder's chain (each covers every entry before it).
    public func latestCheckpoints() async throws -> [ChainCheckpoint] {
        try await withDeadline("read checkpoints") { [client, logger] in
            var checkpoints: [ChainCheckpoint] = []
            for try await (keyID, seq, head, time, signature) in try await client.query("""
                SELECT DISTINCT ON (key_id) key_id, seq, head, time, signature FROM chain_checkpoints ORDER BY key_id, seq DESC
                """, logger: logger).decode((String, Int, String, String, String).self) {
                checkpoints.append(ChainCheckpoint(keyID: keyID, seq: seq, head: head, time: time, signature: signature))
            }
            return checkpoints
        }
    }

    private static func binds(_ values: String...) -> PostgresBindings {
        var binds = PostgresBindings()
        for value in values { binds.append(value) }
        return binds
    }

    // MARK: Render jobs

    /// A composite to render somewhere: the recording, and where its files are in the store.
    public struct RenderJob: Sendable {
        public var recording: String
        public var location: String
        public var attempt: Int
    }

    /// Takes the oldest job nobody holds (or whose holder stopped saying it is alive for longer than its hold: it
    /// died), with `FOR UPDATE SKIP LOCKED`, so that workers never wait for each other nor take the same job. The
    /// job is held for `staleAfter` without renewal; the worker renews it well within that.
    public func takeRenderJob(worker: String, staleAfter: Duration = .seconds(120), maximumAttempts: Int = 5) async throws -> RenderJob? {
        let hold = Int(staleAfter.components.seconds)
        return try await withDeadline("take a render job") { [client, logger] in
            let rows = try await client.query("""
                UPDATE render_jobs SET state = 'taken', taken_by = \(worker), taken_at = now(), attempts = attempts + 1, hold_seconds = \(hold)
                WHERE recording_id = (
                    SELECT j.recording_id FROM render_jobs j JOIN recordings r ON r.id = j.recording_id
                    WHERE r.location IS NOT NULL AND r.upload_state <> 'uploading' AND j.attempts < \(maximumAttempts)
                      AND (j.state = 'queued' OR (j.state = 'taken' AND j.taken_at < now() - make_interval(secs => coalesce(j.hold_seconds, \(hold)))))
                    ORDER BY r.start_time NULLS LAST, j.recording_id FOR UPDATE OF j SKIP LOCKED LIMIT 1)
                RETURNING recording_id, (SELECT location FROM recordings WHERE id = render_jobs.recording_id), attempts
                """, logger: logger)
            for try await (recording, location, attempts) in rows.decode((String, String?, Int).self) {
                return RenderJob(recording: recording, location: location ?? "", attempt: attempts)
            }
            return nil
        }
    }

    /// The worker holding `recording` is alive: its job is not stale.
    public func renewRenderJob(_ recording: String, worker: String) async throws {
        try await withDeadline("renew \(recording)") { [client, logger] in
            try await client.query("UPDATE render_jobs SET taken_at = now() WHERE recording_id = \(recording) AND taken_by = \(worker)", logger: logger)
        }
    }

    /// Ends a job: rendered (the composite is in the store), or given back with what went wrong.
    public func finishRenderJob(_ recording: String, worker: String, error: String?) async throws {
        try await withDeadline("finish \(recording)") { [client, logger] in
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("""
                    UPDATE render_jobs SET state = \(error == nil ? "rendered" : "queued"), finished_at = now(), error = \(error), hold_seconds = NULL
                    WHERE recording_id = \(recording) AND taken_by = \(worker)
                    """, logger: logger)
                if error == nil {
                    try await connection.query("UPDATE recordings SET composite_state = 'rendered', updated_at = now() WHERE id = \(recording)", logger: logger)
                }
            }
        }
    }

    /// Gives a job back without counting the attempt: the worker could not do it through no fault of the job.
    public func releaseRenderJob(_ recording: String, worker: String) async throws {
        try await withDeadline("give back \(recording)") { [client, logger] in
            try await client.query("""
                UPDATE render_jobs SET state = 'queued', taken_by = NULL, taken_at = NULL, hold_seconds = NULL, attempts = greatest(attempts - 1, 0)
                WHERE recording_id = \(recording) AND taken_by = \(worker) AND state = 'taken'
                """, logger: logger)
        }
    }

    /// Each job's state: recording id → (state, attempts, taken by).
    public func renderJobs() async throws -> [String: (state: String, attempts: Int, takenBy: String?)] {
        try await withDeadline("render jobs") { [client, logger] in
            var jobs: [String: (state: String, attempts: Int, takenBy: String?)] = [:]
            for try await (id, state, attempts, takenBy) in try await client.query(
                "SELECT recording_id, state, attempts, taken_by FROM render_jobs", logger: logger).decode((String, String, Int, String?).self) {
                jobs[id] = (state, attempts, takenBy)
            }
            return jobs
        }
    }

    // MARK: Reading

    /// A recording as the fleet catalog has it.
    public struct Entry: Sendable {
        public var recording: CatalogRecording
        public var recorderVersion: String
        public var signedBy: String?
        public var completedBy: String?
        public var location: String?
        public var uploadState: String
        public var files: [(name: String, key: String, bytes: Int64, state: String)] = []
    }

    /// The newest recordings first (at most `limit`), optionally of one contact.
    public func list(contact: String? = nil, limit: Int = 100) async throws -> [Entry] {
        try await withDeadline("list") { [self] in try await read(contact: contact, limit: limit) }
    }

    private func read(contact: String?, limit: Int) async throws -> [Entry] {
        let rows = contact == nil
            ? try await client.query("""
                SELECT id, contact, directory, status, wall_clock_start, wall_clock_end, duration_seconds, sha256, recorder_version, signed_by, completed_by,
                    location, upload_state FROM recordings ORDER BY start_time DESC NULLS LAST, id LIMIT \(limit)
                """, logger: logger)
            : try await client.query("""
                SELECT id, contact, directory, status, wall_clock_start, wall_clock_end, duration_seconds, sha256, recorder_version, signed_by, completed_by,
                    location, upload_state FROM recordings WHERE contact = \(contact!) ORDER BY start_time DESC NULLS LAST, id LIMIT \(limit)
                """, logger: logger)
        var entries: [Entry] = []
        for try await (id, contact, directory, status, start, end, duration, sha, version, signedBy, completedBy, location, upload)
            in rows.decode((String, String, String, String, String, String?, Double?, String?, String, String?, String?, String?, String).self) {
            entries.append(Entry(
                recording: CatalogRecording(id: id, contact: contact, directory: directory, file: OriginalsFile.fileName, status: status, wallClockStart: start,
                                            wallClockEnd: end, durationSeconds: duration, sha256: sha, participants: []),
                recorderVersion: version, signedBy: signedBy, completedBy: completedBy, location: location, uploadState: upload))
        }
        guard !entries.isEmpty else { return [] }
        var byRecording: [String: [CatalogParticipant]] = [:]
        let ids = entries.map(\.recording.id)
        for try await (recording, participant, name, role, joined, left) in try await client.query("""
            SELECT recording_id, participant_id, name, role, joined_at, left_at FROM participants WHERE recording_id = ANY(\(ids)) ORDER BY recording_id, position
            """, logger: logger).decode((String, String, String, String, Double, Double?).self) {
            byRecording[recording, default: []].append(CatalogParticipant(id: participant, name: name, role: role, joinedAt: joined, leftAt: left))
        }
        for index in entries.indices { entries[index].recording.participants = byRecording[entries[index].recording.id] ?? [] }
        return entries
    }

    /// One recording, with where each of its files is.
    public func show(id: String) async throws -> Entry? {
        try await withDeadline("show \(id)") { [self] in try await read(id: id) }
    }

    private func read(id: String) async throws -> Entry? {
        let rows = try await client.query("""
            SELECT id, contact, directory, status, wall_clock_start, wall_clock_end, duration_seconds, sha256, recorder_version, signed_by, completed_by,
                location, upload_state FROM recordings WHERE id = \(id)
            """, logger: logger)
        var found: Entry?
        for try await (id, contact, directory, status, start, end, duration, sha, version, signedBy, completedBy, location, upload)
            in rows.decode((String, String, String, String, String, String?, Double?, String?, String, String?, String?, String?, String).self) {
            found = Entry(
                recording: CatalogRecording(id: id, contact: contact, directory: directory, file: OriginalsFile.fileName, status: status, wallClockStart: start,
                                            wallClockEnd: end, durationSeconds: duration, sha256: sha, participants: []),
                recorderVersion: version, signedBy: signedBy, completedBy: completedBy, location: location, uploadState: upload)
        }
        guard var entry = found else { return nil }
        for try await (participant, name, role, joined, left) in try await client.query("""
            SELECT participant_id, name, role, joined_at, left_at FROM participants WHERE recording_id = \(id) ORDER BY position
            """, logger: logger).decode((String, String, String, Double, Double?).self) {
            entry.recording.participants.append(CatalogParticipant(id: participant, name: name, role: role, joinedAt: joined, leftAt: left))
        }
        for try await (name, key, bytes, state) in try await client.query("""
            SELECT name, object_key, bytes, state FROM stored_files WHERE recording_id = \(id) ORDER BY name
            """, logger: logger).decode((String, String, Int64, String).self) {
            entry.files.append((name, key, bytes, state))
        }
        return entry
    }

    /// A file the catalog knows in the store.
    public struct StoredFile: Sendable {
        public var name: String
        public var key: String
        public var bytes: Int64
        public var state: String
    }

    /// Every recording with its location in the store, and each file the catalog knows there (a recording with no
    /// file known yet comes once, with none).
    public func storedFiles() async throws -> [(recording: String, location: String?, file: StoredFile?)] {
        try await withDeadline("stored files", seconds: 60) { [client, logger] in
            var rows: [(recording: String, location: String?, file: StoredFile?)] = []
            for try await (recording, location, name, key, bytes, state) in try await client.query("""
                SELECT r.id, r.location, f.name, f.object_key, f.bytes, f.state FROM recordings r LEFT JOIN stored_files f ON f.recording_id = r.id
                ORDER BY r.id, f.name
                """, logger: logger).decode((String, String?, String?, String?, Int64?, String?).self) {
                let file = name.map { StoredFile(name: $0, key: key ?? "", bytes: bytes ?? 0, state: state ?? "") }
                rows.append((recording, location, file))
            }
            return rows
        }
    }

    /// How many recordings the catalog holds.
    public func count() async throws -> Int {
        for try await count in try await client.query("SELECT count(*)::int FROM recordings", logger: logger).decode(Int.self) { return count }
        return 0
    }
}
