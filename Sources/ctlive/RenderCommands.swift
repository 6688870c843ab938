import ArgumentParser
import Catalog
import ChildProcess
import Evidence
import Foundation
import Logging
import Recorder
import Review
import FleetCatalog

#if canImport(Glibc)
import Glibc
#endif

/// `ctlive render-composite --directory DIR`: renders one queued composite for a bot, in a process of its own.
///
/// Not for people: the bot's composite queue starts it (FFmpeg's decoders parse what members sent, so
/// not in the bot), at low priority.
struct RenderCompositeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render-composite", abstract: "Render one recording's composite for a bot (started by the bot).", shouldDisplay: false)

    @Option(help: "The recording's folder.") var directory: String
    @Option(help: ArgumentHelp("Sign the derivation with this Ed25519 key.", valueName: "FILE")) var signingKey: String?
    @Option(help: "Niceness to run at (0-19).") var nice: Int32 = 0
    @Option(help: "Log level on stderr.") var logLevel: Logger.Level = .warning

    func run() throws {
        if nice > 0 { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, min(nice, 19)) }
        let logger = LogSetup.logger("ctlive.render", level: logLevel)
        try CompositeJob.render(directory: directory, key: try signingKey.map { try SigningKey.load(path: $0) }, logger: logger)
    }
}

/// `ctlive recordings render ID|--pending`: renders composites from their originals, on demand.
struct RecordingsRender: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Render a recording's composite (recording.mp4) from its originals, or every composite still queued or on demand.")

    @Argument(help: "The recording's id.") var id: String?
    @Flag(help: "Render every composite that is queued, on demand, or failed.") var pending = false
    @OptionGroup var root: RecordingsRootOptions
    @Option(help: ArgumentHelp("Sign the derivation (composite.json) with this Ed25519 key (the recorder's).", valueName: "FILE"))
    var signingKey: String?
    @Option(help: ArgumentHelp("Render into this file instead, and sign nothing: re-render a composite to compare it with the recorder's.", valueName: "FILE"))
    var output: String?

    func validate() throws {
        guard (id == nil) != !pending else { throw ValidationError("name a recording id or --pending, not both") }
        if pending && output != nil { throw ValidationError("--output renders one recording") }
    }

    func run() async throws {
        let logger = LogSetup.logger("ctlive.render", level: .warning)
        let (catalog, _) = try root.openCatalog()
        let key = try signingKey.map { try SigningKey.load(path: $0) }
        var ids: [String] = []
        if let id { ids = [id] } else {
            for entry in try catalog.list() {
                guard let manifest = try? catalog.manifest(id: entry.id), let composite = manifest.composite,
                    CompositeJob.renderable.contains(composite.state),
                    let recording = try catalog.recording(id: entry.id),
                    !FileManager.default.fileExists(atPath: catalog.directoryPath(of: recording) + "/" + Derivation.fileName)
                else { continue }
                ids.append(entry.id)
            }
            if ids.isEmpty { return print("no composites waiting in \(catalog.root)") }
        }
        var failures = 0
        for id in ids {
            guard let recording = try catalog.recording(id: id) else { throw CommandFailure.exit("no recording \(id) in \(catalog.root)") }
            let directory = catalog.directoryPath(of: recording)
            do {
                let result = try CompositeJob.render(directory: directory, key: key, output: output, logger: logger)
                print("\(id) rendered \(output ?? directory + "/" + CompositeState.fileName) (\(String(format: "%.1f", result.duration)) s, sha256 \(result.sha256))")
                if output == nil {
                    _ = try? ReviewPage.write(manifestPath: directory + "/manifest.json", logger: logger)
                    try? catalog.index(manifestAt: directory + "/manifest.json")
                }
            } catch {
                failures += 1
                print("\(id) FAILED: \(error)")
            }
        }
        if failures > 0 { throw CommandFailure.exit("\(failures) of \(ids.count) composites could not be rendered") }
    }
}

/// `ctlive recordings originals ID --mkv FILE`: the record remuxed into Matroska, for any player.
struct RecordingsOriginals: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "originals",
        abstract: "Remux a recording's originals (every track as received) into a Matroska file any player opens.")

    @Argument(help: "The recording's id.") var id: String
    @Option(help: ArgumentHelp("The Matroska file to write.", valueName: "FILE")) var mkv: String
    @OptionGroup var root: RecordingsRootOptions

    func run() async throws {
        let (catalog, _) = try root.openCatalog()
        guard let recording = try catalog.recording(id: id) else { throw CommandFailure.exit("no recording \(id) in \(catalog.root)") }
        guard recording.file == OriginalsFile.fileName else { throw CommandFailure.exit("\(id) was recorded before the originals were kept") }
        do {
            let result = try OriginalsExport.matroska(originals: catalog.filePath(of: recording), output: mkv)
            print("\(mkv): \(result.packets.count) tracks, \(result.packets.values.reduce(0, +)) packets")
        } catch {
            throw CommandFailure.exit("cannot export \(id): \(error)")
        }
    }
}

/// `ctlive render-worker --catalog postgres://… --storage s3://… --s3-endpoint URL`: a process that only renders
/// deferred composites for the fleet (no rooms), for machines kept for that.
struct RenderWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render-worker",
        abstract: "Render the fleet's deferred composites: take jobs from the fleet catalog, fetch the originals from the store, put the composite back.")

    @Option(help: ArgumentHelp("The fleet catalog.", valueName: "postgres://USER@HOST:PORT/DB")) var catalog: String
    @OptionGroup var store: StorageOptions
    @Option(help: "This worker's name in the job table (default: render-<host>-<pid>).") var id: String?
    @Option(help: ArgumentHelp("Sign each derivation (composite.json) with this Ed25519 key.", valueName: "FILE")) var signingKey: String?
    @Option(help: "Seconds after which a job whose worker stopped renewing it is taken by another.") var staleAfter: Int = 120
    @Option(help: "Log level on stderr.") var logLevel: Logger.Level = .info

    func validate() throws {
        guard store.storage != nil else { throw ValidationError("render-worker needs --storage and --s3-endpoint: it fetches the originals from the store") }
        guard (2...86_400).contains(staleAfter) else { throw ValidationError("--stale-after must be 2-86400 seconds") }
    }

    func run() async throws {
        guard let (client, _) = try store.open() else { return }
        let logger = LogSetup.logger("ctlive.render-worker", level: logLevel)
        let worker: RenderWorker
        do {
            worker = try RenderWorker(catalog: catalog, store: client, worker: id ?? "render-\(ProcessInfo.processInfo.hostName)-\(getpid())",
                                      renderer: [currentExecutablePath() ?? CommandLine.arguments[0], "render-composite"], signingKey: signingKey,
                                      staleAfter: .seconds(staleAfter), logger: logger)
        } catch { throw CommandFailure.exit("\(error)") }
        let work = Task { await worker.run() }
        _ = await Shutdown.wait()
        work.cancel()
    }
}
