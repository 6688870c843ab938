import ArgumentParser
import Catalog
import Evidence
import FleetCatalog
import Foundation
import Timestamps
import Logging
import ObjectStore
import Recorder
import Review
import Spool

/// `ctlive recordings`: list, show and verify the recordings under a recordings root, through the catalog.
struct RecordingsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recordings",
        abstract: "List, show and verify recordings (through the catalog, Recordings/catalog.sqlite).",
        subcommands: [RecordingsList.self, RecordingsShow.self, RecordingsVerify.self, RecordingsComplete.self, RecordingsUpload.self, RecordingsExport.self,
                      RecordingsHold.self, RecordingsRelease.self, RecordingsPurge.self, RecordingsRender.self, RecordingsOriginals.self, RecordingsSync.self])
}

/// `--recordings DIR`, shared by the `recordings` subcommands.
struct RecordingsRootOptions: ParsableArguments {
    @Option(help: "The recordings directory.") var recordings: String = "Recordings"
    @Option(help: ArgumentHelp("The fleet catalog (PostgreSQL) instead of this machine's catalog: what every bot recorded.", valueName: "postgres://USER@HOST:PORT/DB"))
    var catalog: String?

    /// The fleet catalog of `--catalog`, its schema brought up to date; nil without `--catalog`.
    func openFleetCatalog() async throws -> FleetCatalog? {
        guard let catalog else { return nil }
        do {
            let fleet = try FleetCatalog(url: catalog, logger: Logger(label: "ctlive.fleet", factory: { _ in SwiftLogNoOpLogHandler() }))
            try await fleet.migrate()
            return fleet
        } catch { throw CommandFailure.exit("cannot use the fleet catalog \(catalog): \(String(reflecting: error))") }
    }

    /// The catalog of `--recordings`, with any manifest nobody indexed yet added to it.
    func openCatalog() throws -> (RecordingsCatalog, ManifestScan) {
        do {
            let catalog = try RecordingsCatalog(root: recordings, logger: Logger(label: "ctlive.recordings"))
            return (catalog, try catalog.indexNewManifests())
        } catch let error as CatalogError {
            throw CommandFailure.exit(error.description)
        }
    }
}

/// `ctlive recordings list`.
struct RecordingsList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List recordings, oldest first.")

    @OptionGroup var root: RecordingsRootOptions
    @Option(help: "Only this contact's recordings.") var contact: String?
    @Option(help: "Only recordings with this participant.") var participant: String?
    @Option(help: "Only recordings started at or after this time (yyyy-mm-dd, UTC, or ISO 8601).") var since: String?
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "With --catalog: the newest N recordings (default 100).") var limit = 100

    func validate() throws {
        if let since, SinceDate.parse(since) == nil { throw ValidationError("--since must be yyyy-mm-dd or ISO 8601, not '\(since)'") }
        if root.catalog != nil && (participant != nil || since != nil) { throw ValidationError("with --catalog, list takes --contact and --limit") }
        guard (1...100_000).contains(limit) else { throw ValidationError("--limit must be 1-100000") }
    }

    func run() async throws {
        if let fleet = try await root.openFleetCatalog() {
            let entries: [FleetCatalog.Entry]
            do { entries = try await fleet.list(contact: contact, limit: limit) } catch { throw CommandFailure.exit(String(reflecting: error)) }
            if json { return print(try JSONOutput.string(entries.map(\.recording))) }
            if entries.isEmpty { return print("no recordings in the fleet catalog") }
            for entry in entries {
                let recording = entry.recording
                let duration = recording.durationSeconds.map { String(format: "%.1fs", $0) } ?? "-"
                let who = recording.participants.map { "\($0.name) (\($0.role))" }.joined(separator: ", ")
                print("\(recording.id)  contact \(recording.contact)  \(recording.wallClockStart)  \(duration)  \(recording.status)  \(entry.uploadState)  \(entry.location ?? recording.directory)  \(who)")
            }
            return
        }
        let (catalog, _) = try root.openCatalog()
        let recordings = try catalog.list(contact: contact, participant: participant, since: since.flatMap(SinceDate.parse))
        if json { return print(try JSONOutput.string(recordings)) }
        if recordings.isEmpty { return print("no recordings in \(catalog.root)") }
        for recording in recordings {
            let duration = recording.durationSeconds.map { String(format: "%.1fs", $0) } ?? "-"
            let who = recording.participants.map { "\($0.name) (\($0.role))" }.joined(separator: ", ")
            print("\(recording.id)  contact \(recording.contact)  \(recording.wallClockStart)  \(duration)  \(recording.status)  \(recording.directory)  \(who)")
        }
    }
}

/// `ctlive recordings show ID`.
struct RecordingsShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show a recording: participants and the timeline of requests, answers, decisions, joins, leaves, speakers and chat.")

    @OptionGroup var root: RecordingsRootOptions
    @Argument(help: "The recording's id (its session id).") var id: String
    @Flag(help: "Print JSON.") var json = false

    struct Shown: Encodable {
        var recording: CatalogRecording
        var path: String
        var timeline: [Timeline.Entry]
    }

    func run() async throws {
        if let fleet = try await root.openFleetCatalog() {
            let found: FleetCatalog.Entry?
            do { found = try await fleet.show(id: id) } catch { throw CommandFailure.exit(String(reflecting: error)) }
            guard let entry = found else { throw CommandFailure.exit("no recording \(id) in the fleet catalog") }
            let recording = entry.recording
            if json { return print(try JSONOutput.string(recording)) }
            print("recording \(recording.id)  contact \(recording.contact)  \(recording.status)")
            print("started   \(recording.wallClockStart)" + (recording.durationSeconds.map { String(format: "  duration %.1fs", $0) } ?? ""))
            print("sha256    \(recording.sha256 ?? "-")")
            print("evidence  " + (entry.signedBy.map { "signed by \($0)" } ?? entry.completedBy.map { "completed by \($0)" } ?? "unsigned"))
            print("stored    \(entry.uploadState)" + (entry.location.map { " at \($0)" } ?? " (on the recorder's disk, \(recording.directory))"))
            for file in entry.files { print("  \(file.name)  \(file.bytes) bytes  \(file.state)  \(file.key)") }
            print("participants")
            for p in recording.participants {
                print("  \(p.name) (\(p.role), \(p.id))  \(Timeline.clock(p.joinedAt)) - \(p.leftAt.map(Timeline.clock) ?? "end")")
            }
            return
        }
        let (catalog, _) = try root.openCatalog()
        guard let recording = try catalog.recording(id: id) else {
            throw CommandFailure.exit("no recording \(id) in \(catalog.root)")
        }
        let manifest: RecordingManifest
        do { manifest = try catalog.manifest(id: id)! } catch { throw CommandFailure.exit("\(error)") }
        let timeline = Timeline(manifest: manifest)
        if json { return print(try JSONOutput.string(Shown(recording: recording, path: catalog.filePath(of: recording), timeline: timeline.entries))) }
        print("recording \(recording.id)  contact \(recording.contact)  \(recording.status)")
        print("file      \(catalog.filePath(of: recording))")
        print("started   \(recording.wallClockStart)" + (recording.durationSeconds.map { String(format: "  duration %.1fs", $0) } ?? ""))
        print("sha256    \(recording.sha256 ?? "-")")
        try printParts(of: manifest, catalog: catalog)
        print("participants")
        for p in recording.participants {
            print("  \(p.name) (\(p.role), \(p.id))  \(Timeline.clock(p.joinedAt)) - \(p.leftAt.map(Timeline.clock) ?? "end")")
        }
        print("timeline")
        for line in timeline.lines { print("  " + line) }
    }
}

extension RecordingsShow {
    /// A session recorded in several parts (a recorder was lost and another took over): each part and the gaps between them.
    private func printParts(of manifest: RecordingManifest, catalog: RecordingsCatalog) throws {
        let parts = try catalog.list(contact: manifest.contact).compactMap { entry -> (CatalogRecording, RecordingManifest)? in
            guard let other = try? catalog.manifest(id: entry.id), other.session == manifest.session else { return nil }
            return (entry, other)
        }.sorted { ($0.1.part ?? 1, $0.1.wallClockStart) < ($1.1.part ?? 1, $1.1.wallClockStart) }
        guard parts.count > 1 else { return }
        print("session   \(manifest.session), recorded in \(parts.count) parts")
        var previousEnd: Date?
        for (entry, part) in parts {
            let start = WallClock.parse(part.wallClockStart)
            if let previousEnd, let start {
                print(String(format: "  gap      %.1f s not recorded", max(0, start.timeIntervalSince(previousEnd))))
            }
            let takeover = part.previousRecorder.map { ", took over from \($0)" } ?? ""
            print("  part \(part.part ?? 1)   \(entry.id)  \(part.status)  \(part.wallClockStart)  \(part.durationSeconds.map { String(format: "%.1f s", $0) } ?? "-")\(takeover)")
            previousEnd = part.wallClockEnd.flatMap(WallClock.parse) ?? start.map { $0.addingTimeInterval(part.durationSeconds ?? 0) }
        }
    }
}

/// `ctlive recordings verify (ID | --all)`.
struct RecordingsVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check recordings: SHA-256 against the manifest, and a full demux and decode. Exits non-zero when anything is wrong.")

    @OptionGroup var root: RecordingsRootOptions
    @Argument(help: "The recording's id.") var id: String?
    @Flag(help: "Verify every recording.") var all = false
    @Option(help: ArgumentHelp("Trust only this Ed25519 public key (FILE.pub from ctlive keys --signing-key); default: <recordings>/keys/*.pub.", valueName: "FILE"))
    var publicKey: String?
    @Option(help: ArgumentHelp("Verify an evidence bundle (ctlive recordings export) with --public-key alone: no catalog, no recordings folder.", valueName: "FILE.tar"))
    var bundle: String?
    @Option(help: ArgumentHelp("With --all: check every chain against these witnessed checkpoints (a hub's --witness-log): a cut chain fails.", valueName: "FILE"))
    var checkpoint: String?
    @Option(help: ArgumentHelp("The witness' public key: the checkpoints' cosignatures must verify with it.", valueName: "FILE.pub"))
    var witnessKey: String?
    @OptionGroup var store: StorageOptions

    func validate() throws {
        if store.storage != nil && bundle != nil { throw ValidationError("--storage and --bundle are two different sources: give one") }
        if bundle != nil {
            guard id == nil, !all, publicKey != nil else { throw ValidationError("--bundle takes --public-key, and no id or --all") }
            return
        }
        guard (id != nil) != all else { throw ValidationError("give a recording id or --all (one of them)") }
        if checkpoint != nil && !all { throw ValidationError("--checkpoint goes with --all") }
        if witnessKey != nil && checkpoint == nil { throw ValidationError("--witness-key goes with --checkpoint") }
        if root.catalog != nil && store.storage == nil {
            throw ValidationError("verify --catalog needs --storage and --s3-endpoint: the fleet's recordings are verified from the store")
        }
    }

    func run() async throws {
        if let bundle, let publicKey {
            let report: VerificationReport
            do { report = try BundleVerifier.verify(bundle: bundle, trusting: try PublicKey.load(path: publicKey)) } catch {
                throw CommandFailure.exit("\(error)")
            }
            print(report.line)
            if !report.isOK { throw ExitCode.failure }
            return
        }
        var root = root
        if let (client, location) = try store.open() {
            // From the store alone: fetched into a folder of its own (streamed to disk), then judged as any folder is.
            let fetched = FileManager.default.temporaryDirectory.appendingPathComponent("ctlive-fetched-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: fetched) }
            // With the fleet catalog: where the recording is comes from it (one folder listed, not the whole store),
            // and --all checks the catalog against the store, both ways.
            let fleet = try await root.openFleetCatalog()
            var catalogProblems: [String] = []
            do {
                var folder: String?
                if let id, let fleet {
                    guard let entry = try await fleet.show(id: id), let stored = entry.location else {
                        throw CommandFailure.exit("no recording \(id) in the fleet catalog with a location in the store")
                    }
                    guard let relative = location.relative(of: stored) else {
                        throw CommandFailure.exit("\(id) is at \(stored) by the fleet catalog, not under \(location)")
                    }
                    folder = relative
                }
                let found = try await StoreFetch.fetch(from: client, location: location, into: fetched, recording: id, folder: folder)
                if let id, !found.contains(id) { throw CommandFailure.exit("no recording \(id) in \(location)") }
                if all, let fleet { catalogProblems = try await Self.compare(fleet, with: client, in: location) }
            } catch let error as ExitCode { throw error }
            catch let error as ObjectStoreError { throw CommandFailure.exit("\(error)") }
            catch { throw CommandFailure.exit("the fleet catalog: \(String(reflecting: error))") }
            root.recordings = fetched
            let checkpoints: [ChainCheckpoint]
            do { checkpoints = all ? try await fleetCheckpoints(root: root) : [] } catch { throw CommandFailure.exit("\(error)") }
            try await verify(root: root, alsoFailing: catalogProblems, catalogCheckpoints: checkpoints)
            return
        }
        try await verify(root: root)
    }

    /// The newest chain checkpoint of each recorder the fleet catalog holds.
    private func fleetCheckpoints(root: RecordingsRootOptions) async throws -> [ChainCheckpoint] {
        guard let fleet = try await root.openFleetCatalog() else { return [] }
        return try await fleet.latestCheckpoints()
    }

    /// What the fleet catalog and the store disagree on: a file the catalog says is stored that the store lacks or
    /// holds at another size (lost, or overwritten), or a recording in the store the catalog does not know.
    private static func compare(_ fleet: FleetCatalog, with store: S3Client, in location: StorageLocation) async throws -> [String] {
        let prefix = location.prefix.isEmpty ? "" : location.prefix + "/"
        var sizes: [String: Int64] = [:]
        var inStore = Set<String>()
        for object in try await store.listObjects(bucket: location.bucket, prefix: prefix) {
            sizes[object.key] = object.size
            let parts = object.key.dropFirst(prefix.count).split(separator: "/")
            if parts.count == 3, parts[2] == "manifest.json" { inStore.insert(parts[0] + "/" + parts[1]) }
        }
        var problems: [String] = []
        var catalogued = Set<String>()
        for row in try await fleet.storedFiles() {
            guard let url = row.location, let folder = location.relative(of: url) else { continue }
            catalogued.insert(folder)
            guard let file = row.file, file.state == "uploaded" else { continue }
            if let size = sizes[file.key] {
                if size != file.bytes { problems.append("\(row.recording): \(file.name) is \(size) bytes in the store, \(file.bytes) by the fleet catalog") }
            } else {
                problems.append("\(row.recording): the fleet catalog has \(file.name) at \(file.key), the store does not")
            }
        }
        for folder in inStore.subtracting(catalogued).sorted() { problems.append("\(folder): in the store, not in the fleet catalog") }
        return problems
    }

    private func verify(root: RecordingsRootOptions, alsoFailing catalogProblems: [String] = [], catalogCheckpoints: [ChainCheckpoint] = []) async throws {
        let (catalog, scan) = try root.openCatalog()
        var failed = !catalogProblems.isEmpty
        for problem in catalogProblems { print("FAILED: \(problem)") }
        let trusted: [PublicKey]?
        do { trusted = try publicKey.map { [try PublicKey.load(path: $0)] } } catch { throw CommandFailure.exit("\(error)") }
        // One recording by id (through the catalog, which adds its hash as a check); --all, every folder itself.
        let reports = all ? catalog.verifyFolders(trusting: trusted) : [try catalog.verify(id: id!, trusting: trusted)]
        for report in reports {
            print(report.line)
            failed = failed || !report.isOK
        }
        if all {
            let chains = try catalog.verifyChains(trusting: trusted)
            for line in chains.lines { print(line) }
            failed = failed || !chains.isOK
            if let checkpoint {
                let problems: [String]
                let count: Int
                do {
                    let witnessed = try WitnessedCheckpoint.read(path: checkpoint)
                    count = witnessed.count
                    problems = CheckpointCheck.check(root: catalog.root, checkpoints: witnessed, trusted: trusted ?? EvidenceCheck.keys(in: catalog.root + "/keys"),
                                                     witness: try witnessKey.map { try PublicKey.load(path: $0) })
                } catch { throw CommandFailure.exit("\(error)") }
                for problem in problems { print("FAILED: \(problem)") }
                if problems.isEmpty { print("checkpoints ok (\(count) in \((checkpoint as NSString).lastPathComponent), every one still in its chain)") }
                failed = failed || !problems.isEmpty
            }
            if !catalogCheckpoints.isEmpty {
                // Only trusted recorders' checkpoints are checked: another recorder's chain is not this verification's.
                let keys = trusted ?? EvidenceCheck.keys(in: catalog.root + "/keys")
                let checked = catalogCheckpoints.filter { checkpoint in keys.contains { $0.keyID == checkpoint.keyID } }
                let problems = CheckpointCheck.check(root: catalog.root, checkpoints: checked.map { ($0, "the fleet catalog's checkpoint of \($0.time)") },
                                                     trusted: keys)
                for problem in problems { print("FAILED: \(problem)") }
                let untrusted = catalogCheckpoints.count - checked.count
                if problems.isEmpty {
                    print("fleet catalog checkpoints ok (\(checked.count) recorder(s) checked, each chain reaching its newest checkpoint"
                          + (untrusted > 0 ? "; \(untrusted) of recorders whose keys are not trusted here, not checked)" : ")"))
                }
                failed = failed || !problems.isEmpty
            }
            // (A manifest that cannot be read is among the folders judged.)
            _ = scan
            if reports.isEmpty { print("no recordings in \(catalog.root)") }
        }
        if failed { throw ExitCode.failure }
    }
}

/// `ctlive recordings export ID -o FILE.tar`.
struct RecordingsExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write an evidence bundle: the recording, manifest, seals, signature, public key, review page and its chain entries, in one tar file.")

    @OptionGroup var root: RecordingsRootOptions
    @Argument(help: "The recording's id.") var id: String
    @Option(name: .shortAndLong, help: ArgumentHelp("The bundle to write.", valueName: "FILE.tar")) var output: String
    @Option(help: ArgumentHelp("The recorder's Ed25519 key: the export is recorded as a signed entry of its chain.", valueName: "FILE"))
    var signingKey: String?

    func run() async throws {
        let (catalog, _) = try root.openCatalog()
        do {
            try catalog.exportBundle(id: id, to: output)
            if let signingKey { try Retention.recordExport(catalog, id: id, bundle: output, key: try SigningKey.load(path: signingKey)) }
        } catch { throw CommandFailure.exit("\(error)") }
        print("wrote \(output)")
    }
}

/// `ctlive recordings complete ID --signing-key FILE`: completes a recording its writer abandoned, signed.
struct RecordingsComplete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "complete",
        abstract: "Complete a recording whose writer died (status `recording`, no writer alive) as `interrupted`, signing the completion (completion.json and a `completion` chain entry).")

    @OptionGroup var root: RecordingsRootOptions
    @Argument(help: "The recording's id.") var id: String
    @Option(help: ArgumentHelp("Your Ed25519 key: the completion is signed with it, never as the writer.", valueName: "FILE")) var signingKey: String
    @Option(name: .customLong("as"), help: "The name you sign as.") var name: String = "ctlive recordings complete"

    func run() async throws {
        let (catalog, _) = try root.openCatalog()
        guard let recording = try catalog.recording(id: id) else { throw CommandFailure.exit("no recording \(id)") }
        let directory = catalog.directoryPath(of: recording)
        let completer: AbandonedRecording.Completer
        do { completer = AbandonedRecording.Completer(key: try SigningKey.load(path: signingKey), name: name, chainRoot: catalog.root) } catch {
            throw CommandFailure.exit("\(error)")
        }
        let completed: Bool
        do { completed = try AbandonedRecording.completeIfAbandoned(directory: directory, completer: completer) } catch {
            throw CommandFailure.exit("\(error)")
        }
        guard completed else { throw CommandFailure.exit("\(id) is not abandoned (it is \(recording.status), or its writer is alive): nothing to complete") }
        _ = try? catalog.index(manifestAt: catalog.manifestPath(of: recording))
        print("\(id) completed as interrupted, signed by \(completer.key.keyID) as \(name)")
    }
}

/// `ctlive recordings upload --storage s3://… --s3-endpoint URL`: drains a recordings folder into the store,
/// as the bot's spool does in the background: resumes what a killed bot left, aborts its orphan uploads.
struct RecordingsUpload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upload",
        abstract: "Upload every finished recording to the object store (resuming cut uploads), then remove local media the store confirmed (unless --keep-local).")

    @OptionGroup var root: RecordingsRootOptions
    @OptionGroup var store: StorageOptions
    @Flag(help: "Keep the local copies after the store confirmed them.") var keepLocal = false
    @Option(help: ArgumentHelp("Upload at most this many bytes a second (leave the uplink to live media).", valueName: "BYTES")) var bandwidth: Int?

    func validate() throws {
        guard store.storage != nil else { throw ValidationError("upload needs --storage s3://BUCKET/PREFIX and --s3-endpoint URL") }
        if let bandwidth, bandwidth < 65536 { throw ValidationError("--bandwidth must be at least 65536 bytes a second") }
    }

    func run() async throws {
        guard let (client, location) = try store.open() else { return }
        let uploader = RecordingUploader(root: root.recordings, store: client, location: location, keepLocal: keepLocal,
                                         bytesPerSecond: bandwidth, logger: LogSetup.logger("ctlive.upload", level: .notice))
        do {
            try await client.createBucket(location.bucket)
            try await uploader.abortOrphanUploads()
            let stored = try await uploader.pass()
            print("\(stored.count) recordings stored in \(location)\(uploader.backlogBytes > 0 ? ", \(uploader.backlogBytes) bytes still waiting" : "")")
        } catch let error as ObjectStoreError { throw CommandFailure.exit("\(error)") }
    }
}

/// Writes a recording's review page again, so that it shows a hold or its release.
private func refreshReviewPage(_ catalog: RecordingsCatalog, id: String) throws {
    guard let recording = try catalog.recording(id: id) else { return }
    _ = try? ReviewPage.write(manifestPath: catalog.manifestPath(of: recording), logger: LogSetup.logger("ctlive.review", level: .warning))
}

/// `ctlive recordings hold ID --reason TEXT`: a legal hold; a held recording is never purged.
struct RecordingsHold: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hold", abstract: "Put a recording under legal hold (audited): purge never removes it.")
    @OptionGroup var root: RecordingsRootOptions
    @Argument(help: "The recording's id.") var id: String
    @Option(help: "Why (a case number, a request).") var reason: String
    @Option(help: ArgumentHelp("The recorder's Ed25519 key: the hold becomes a signed entry of its chain (evidence, not only a log).", valueName: "FILE"))
    var signingKey: String?

    func run() async throws {
        let (catalog, _) = try root.openCatalog()
        do { try Retention.hold(catalog, id: id, reason: reason, key: try signingKey.map { try SigningKey.load(path: $0) }) } catch {
            throw CommandFailure.exit("\(error)")
        }
        try refreshReviewPage(catalog, id: id)
        print("\(id) held: \(reason)")
    }
}

/// `ctlive recordings release ID`: ends a legal hold.
struct RecordingsRelease: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "release", abstract: "Release a recording's legal hold (audited).")
    @OptionGroup var root: RecordingsRootOptions
    @Argument(help: "The recording's id.") var id: String
    @Option(help: ArgumentHelp("The recorder's Ed25519 key: the release becomes a signed entry of its chain.", valueName: "FILE"))
    var signingKey: String?

    func run() async throws {
        let (catalog, _) = try root.openCatalog()
        do { try Retention.release(catalog, id: id, key: try signingKey.map { try SigningKey.load(path: $0) }) } catch {
            throw CommandFailure.exit("\(error)")
        }
        try refreshReviewPage(catalog, id: id)
        print("\(id) released")
    }
}

/// `ctlive recordings purge --older-than DAYS [--dry-run] --signing-key FILE`.
struct RecordingsPurge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge",
        abstract: "Remove the media of recordings older than DAYS (0: all) that are not held, each with a signed tombstone in the chain (audited).")
    @OptionGroup var root: RecordingsRootOptions
    @Option(help: "Age in days (fractional; 0 purges everything not held).") var olderThan: Double
    @Flag(help: "Say what would be purged; change nothing.") var dryRun = false
    @Option(help: ArgumentHelp("The recorder's Ed25519 key (ctlive keys --signing-key): signs the tombstones.", valueName: "FILE"))
    var signingKey: String?

    func validate() throws {
        guard olderThan >= 0 else { throw ValidationError("--older-than must not be negative") }
        if !dryRun && signingKey == nil { throw ValidationError("a purge writes signed tombstones: give --signing-key (or --dry-run)") }
    }

    func run() async throws {
        let (catalog, _) = try root.openCatalog()
        let purged: [Retention.Purged]
        do {
            let key = try signingKey.map { try SigningKey.load(path: $0) }
            purged = try Retention.purge(catalog, olderThanDays: olderThan, dryRun: dryRun, key: key)
        } catch {
            throw CommandFailure.exit("\(error)")
        }
        for item in purged {
            let what = item.removed.isEmpty ? "nothing left to remove" : item.removed.joined(separator: ", ")
            print(dryRun ? "would purge \(item.recording): \(what)" : "purged \(item.recording): \(what) (tombstone \(item.tombstone ?? 0))")
        }
        if purged.isEmpty { print("nothing to purge") }
    }
}

/// `--since` values: a day (`yyyy-mm-dd`, midnight UTC) or an ISO 8601 time.
enum SinceDate {
    static func parse(_ text: String) -> Date? {
        let day = DateFormatter()
        day.locale = Locale(identifier: "en_US_POSIX")
        day.timeZone = TimeZone(identifier: "UTC")
        day.dateFormat = "yyyy-MM-dd"
        if text.count == 10, let date = day.date(from: text) { return date }
        return ISO8601.parse(text)
    }
}

/// Pretty, stable JSON for the commands' `--json`.
enum JSONOutput {
    static func string(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

/// A command that stops with a message.
enum CommandFailure {
    /// Prints `error: <message>` on standard error; returns the exit status 1 to throw.
    static func exit(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data(("error: " + message + "\n").utf8))
        return ExitCode.failure
    }
}
