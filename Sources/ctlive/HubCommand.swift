import ArgumentParser
import Evidence
import Foundation
import Hub
import Logging

/// `ctlive hub`: runs the signaling hub until SIGINT or SIGTERM.
struct HubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hub", abstract: "Run the signaling hub (ROUTER broker of contacts, escalations and video rooms).")

    @Option(help: "Where to listen for signaling (loopback by default).")
    var signaling = HubConfiguration.defaultSignalingEndpoint

    @Option(help: "Where the media relay listens (loopback by default).")
    var media = HubConfiguration.defaultMediaEndpoint

    @Flag(help: "Run without a media relay (signaling only).")
    var noMedia = false

    @Option(help: "Seconds an upgrade request waits for an answer before it is refused with reason 'timeout'.")
    var requestTimeout: Double = 30

    @Option(help: "Seconds of silence after which a client is taken as dead.")
    var heartbeatTimeout: Double = 3

    @Flag(help: "Every room must be recorded: one that no recorder writes for the grace ends ('recording lost').")
    var recordingRequired = false

    @Option(help: "Seconds a room that must be recorded may go with no recorder writing it.")
    var recordingGrace: Double = 10

    @Option(help: ArgumentHelp("CURVE: a JSON file with the hub's key pair and the clients' public keys.", valueName: "FILE"))
    var keys: String?

    @Flag(help: "Allow a non-local endpoint without CURVE keys.")
    var insecure = false

    @Option(help: ArgumentHelp("Witness recorders' chain checkpoints with this Ed25519 key (ctlive keys --signing-key), into --witness-log.",
                               valueName: "FILE"))
    var witnessKey: String?

    @Option(help: ArgumentHelp("Where witnessed checkpoints are appended (JSON lines): what an auditor checks a chain against.", valueName: "FILE"))
    var witnessLog: String?

    @Option(help: "Log level on stderr.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        guard (witnessKey == nil) == (witnessLog == nil) else { throw ValidationError("--witness-key and --witness-log go together") }
        guard requestTimeout > 0, requestTimeout <= 3600 else { throw ValidationError("--request-timeout must be in (0, 3600] seconds") }
        guard recordingGrace >= 1, recordingGrace <= 3600 else { throw ValidationError("--recording-grace must be in [1, 3600] seconds") }
        guard heartbeatTimeout >= 2, heartbeatTimeout <= 600 else {
            throw ValidationError("--heartbeat-timeout must be in [2, 600] seconds (clients send something every second)")
        }
    }

    func run() async throws {
        var configuration = HubConfiguration()
        configuration.signalingEndpoint = signaling
        configuration.mediaEndpoint = noMedia ? nil : media
        configuration.policy.requestTimeout = .milliseconds(Int(requestTimeout * 1000))
        configuration.policy.heartbeatTimeout = .milliseconds(Int(heartbeatTimeout * 1000))
        configuration.policy.recordingRequired = recordingRequired
        configuration.policy.recordingGrace = .milliseconds(Int(recordingGrace * 1000))
        configuration.insecure = insecure
        if let witnessKey, let witnessLog {
            do { configuration.policy.witness = ChainWitness(key: try SigningKey.load(path: witnessKey), logPath: witnessLog) } catch {
                throw ValidationError("--witness-key \(witnessKey): \(error)")
            }
        }
        if let keys {
            do { configuration.keys = try KeysFile.load(path: keys) } catch { Output.fail("\(error)") }
        }
        let hub = Hub(configuration: configuration, logger: LogSetup.logger("ctlive.hub", level: logLevel))
        let endpoint: String
        do { endpoint = try hub.start() } catch { Output.fail("\(error)") }
        Output.line("ctlive hub listening on \(endpoint)\(hub.mediaEndpoint.map { ", media on \($0)" } ?? "")\(configuration.keys != nil ? " (CURVE)" : "")")
        let stop = await Shutdown.wait()
        hub.stop()
        FileHandle.standardError.write(Data("ctlive hub stopped (\(stop))\n".utf8))
    }
}
