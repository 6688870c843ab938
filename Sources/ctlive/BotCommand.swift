import ArgumentParser
import Bot
import CTLive
import Foundation
import Hub
import Logging
import PolicyHost
import Recorder
import FleetCatalog
import Spool

extension Layout: ExpressibleByArgument {}
extension CompositeMode: ExpressibleByArgument {}

/// `ctlive bot`: the headless recorder, and the policy delegate of agents.
struct BotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bot",
        abstract: "Run a headless recorder bot: records the rooms the hub assigns it, answers requests for agents by policy.")

    @Option(help: "The hub's signaling endpoint.")
    var hub = HubConfiguration.defaultSignalingEndpoint

    @Option(help: "This bot's id (default: bot-<pid>).")
    var id: String?

    @Option(help: "Where recordings go.")
    var recordings = "Recordings"

    @Option(help: "Composite layout: grid or speaker.")
    var layout: Layout = .grid

    @Option(help: "Composite size, WxH.")
    var size = "1280x720"

    @Option(help: "Composite frame rate.")
    var fps: Int32 = 30

    @Option(help: ArgumentHelp("When the composite recording.mp4 is made from the originals: live, after (queued when the part ends), on-demand (ctlive recordings render), or auto (live while the machine has headroom, else queued and rendered when idle).", valueName: "MODE"))
    var composite: CompositeMode = .auto

    @Flag(help: "Answer for agents only; record nothing.")
    var noRecord = false

    @Option(help: "Seconds to keep trying to join a hub that is not up yet (or still holds this bot's previous connection).")
    var waitForHub: Double = 60

    @Option(help: ArgumentHelp("Ed25519 key file (ctlive keys --signing-key): seal recordings while written and sign their manifests.", valueName: "FILE"))
    var signingKey: String?

    @Option(help: "Rooms recorded at once at most: the hub assigns no more (see ctlive bench recorder). Default: no limit.")
    var capacity: Int?

    @Option(help: ArgumentHelp("Policy file: answer upgrade requests for the agents it names (reloaded on SIGHUP).", valueName: "FILE"))
    var policy: String?

    @Option(name: .customLong("plugins"), help: ArgumentHelp("Where policy plugins are (repeatable; default: beside this executable).", valueName: "DIR"))
    var pluginDirectories: [String] = []

    @Option(name: .customLong("agent"), help: ArgumentHelp("Also answer for this agent (repeatable).", valueName: "ID"))
    var agents: [String] = []

    @Option(help: ArgumentHelp("Append every policy decision to this JSON-lines audit log (default: <recordings>/decisions.jsonl).", valueName: "FILE"))
    var audit: String?

    @Option(help: ArgumentHelp("CURVE keys: a JSON file with serverPublicKey, publicKey and secretKey.", valueName: "FILE"))
    var curve: String?

    @OptionGroup(title: "Object storage") var store: StorageOptions

    @Option(help: ArgumentHelp("The fleet catalog: every recording indexed here is written there too (kept in a local outbox while it is unreachable).", valueName: "postgres://USER@HOST:PORT/DB"))
    var catalog: String?

    @Flag(inversion: .prefixedNo, help: "With --catalog and --storage: render the fleet's deferred composites too while this machine has headroom (as ctlive render-worker does).")
    var fleetRenders = true

    @Flag(help: "With --storage: keep local copies after the store confirmed them (default: the recordings folder is a spool).")
    var keepLocal = false

    @Option(help: ArgumentHelp("With --storage: take no rooms while more than this many MiB wait for the store.", valueName: "MiB"))
    var spoolLimit: Int64?

    @Option(help: ArgumentHelp("With --storage: upload at most this many bytes a second.", valueName: "BYTES"))
    var uploadBandwidth: Int?

    @Option(help: "Log level on stderr.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        _ = try parseSize(size)
        guard (1...60).contains(fps) else { throw ValidationError("--fps must be 1-60") }
        if let capacity, !(1...10_000).contains(capacity) { throw ValidationError("--capacity must be 1-10000") }
        if !agents.isEmpty && policy == nil { throw ValidationError("--agent needs --policy: the bot answers for agents by a policy") }
        if let catalog { do { _ = try PostgresURL(catalog) } catch { throw ValidationError("--catalog: \(error)") } }
        if store.storage == nil && (keepLocal || spoolLimit != nil || uploadBandwidth != nil) {
            throw ValidationError("--keep-local, --spool-limit and --upload-bandwidth go with --storage")
        }
    }

    func run() async throws {
        let logger = LogSetup.logger("ctlive.bot", level: logLevel)
        var engine: PolicyEngine?
        if let policy {
            do {
                try FileManager.default.createDirectory(atPath: recordings, withIntermediateDirectories: true)
                engine = try PolicyEngine(policyPath: policy, pluginDirectories: pluginDirectories.isEmpty ? defaultPluginDirectories() : pluginDirectories,
                                          auditLogPath: audit ?? "\(recordings)/decisions.jsonl", logger: logger)
            } catch {
                Output.fail("cannot load policy \(policy): \(error)")
            }
        }
        var configuration = BotConfiguration(hub: hub, userId: id ?? "bot-\(getpid())")
        (configuration.width, configuration.height) = try parseSize(size)
        configuration.recordingsRoot = recordings
        configuration.layout = layout
        configuration.fps = fps
        configuration.composite = composite
        configuration.records = !noRecord
        configuration.capacity = capacity
        configuration.signingKey = signingKey
        configuration.agents = agents
        configuration.fleetCatalog = catalog
        configuration.rendersFleetComposites = fleetRenders
        if let (client, location) = try store.open() {
            configuration.spool = RecordingUploader(root: recordings, store: client, location: location, keepLocal: keepLocal,
                                                    bytesPerSecond: uploadBandwidth, logger: LogSetup.logger("ctlive.spool", level: logLevel))
            configuration.spoolLimitBytes = spoolLimit.map { $0 << 20 }
        }
        if let curve {
            do { configuration.curve = try JSONDecoder().decode(CurveClientKeys.self, from: Data(contentsOf: URL(fileURLWithPath: curve))) } catch {
                Output.fail("cannot read CURVE keys from \(curve): \(error)")
            }
        }
        let bot = RecorderBot(configuration: configuration, policy: engine, logger: logger)
        bot.onRecordingFinished { result in
            Output.line("recorded \(result.recordingPath) (\(String(format: "%.1f", result.duration)) s, sha256 \(result.sha256))")
        }
        do { try RecorderBot.publishSigningKey(configuration) } catch { Output.fail("cannot use the signing key: \(error)") }
        do { try await bot.start(patience: .milliseconds(Int(max(0, waitForHub) * 1000))) } catch { Output.fail("cannot join the hub at \(hub): \(error)") }
        Output.line("ctlive bot \(configuration.userId) connected to \(hub)\(bot.delegatedAgents.isEmpty ? "" : ", answering for \(bot.delegatedAgents.joined(separator: ", "))")")
        let reload = Reloader(engine: engine, logger: logger)
        _ = await Shutdown.wait()
        reload.cancel()
        await bot.stop()
    }
}

/// SIGHUP reloads the policy file for the decisions that follow.
private final class Reloader {
    private let source: (any DispatchSourceSignal)?

    init(engine: PolicyEngine?, logger: Logger) {
        guard let engine else { source = nil; return }
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler {
            do {
                try engine.reload()
                logger.notice("policy reloaded", metadata: ["file": "\(engine.policyPath)"])
            } catch {
                logger.error("policy reload failed, keeping the previous one: \(error)")
            }
        }
        source.resume()
        self.source = source
    }

    func cancel() { source?.cancel() }
}
