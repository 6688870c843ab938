import ArgumentParser
import CTLive
import CTLiveMedia
import Foundation
import Hub
import Logging
import Signaling

/// Options every client command shares.
struct ClientOptions: ParsableArguments {
    @Option(help: "The hub's signaling endpoint.")
    var hub = HubConfiguration.defaultSignalingEndpoint

    @Flag(help: "Print every event as one JSON object per line on stdout.")
    var json = false

    @Option(help: ArgumentHelp("CURVE keys: a JSON file with serverPublicKey, publicKey and secretKey (Z85).", valueName: "FILE"))
    var curve: String?

    @Option(help: "Log level on stderr (trace, debug, info, notice, warning, error, critical).")
    var logLevel: Logger.Level = .warning

    func curveKeys() throws -> CurveClientKeys? {
        guard let curve else { return nil }
        do {
            return try JSONDecoder().decode(CurveClientKeys.self, from: Data(contentsOf: URL(fileURLWithPath: curve)))
        } catch {
            throw ValidationError("cannot read CURVE keys from \(curve): \(error)")
        }
    }

    /// Connects, or exits non-zero with a one-line error on stderr. With `reconnects`, a hub that goes
    /// away is reconnected to (with backoff); without, losing it ends the command.
    func connect(_ hello: Hello, label: String, media: MediaSourceOptions? = nil, reconnects: Bool = true) async throws -> CTLiveClient {
        var configuration = ClientConfiguration(hub: hub, hello: hello, curve: try curveKeys())
        configuration.media = media
        if !reconnects { configuration.reconnect = nil }
        let client = CTLiveClient(configuration: configuration, logger: LogSetup.logger(label, level: logLevel))
        do {
            try await client.connect()
        } catch {
            Output.fail("cannot join the hub at \(hub): \(error)")
        }
        return client
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

enum LogSetup {
    private static let once: Void = {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .trace
            return handler
        }
    }()

    /// A logger writing to stderr at `level`.
    static func logger(_ label: String, level: Logger.Level) -> Logger {
        _ = once
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }
}

/// What client commands print.
enum Output {
    /// Prints one event: a JSON line with `"event"` and the event's CTLive fields, or a readable line.
    static func print(_ event: ClientEvent, json: Bool) {
        if json {
            var object: [String: Any] = ["event": event.name]
            if let message = event.message, let data = try? JSONSerialization.jsonObject(with: WireCodec.encode(message)) as? [String: Any] {
                for (key, value) in data where !["v", "type", "re"].contains(key) { object[key] = value }
            }
            if case .disconnected(let reason) = event { object["reason"] = reason }
            if case .connectionLost(let reason) = event { object["reason"] = reason }
            if case .media(let status) = event {
                object["roomID"] = status.roomID
                object["state"] = status.state.rawValue
                object["tracks"] = status.statistics.tracksPublished
                object["packetsSent"] = status.statistics.packetsSent
                object["packetsReceived"] = status.statistics.packetsReceived
            }
            line(object)
        } else {
            line(describe(event))
        }
    }

    static func line(_ object: [String: Any]) {
        if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
            line(String(decoding: data, as: UTF8.self))
        }
    }

    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        exit(1)
    }

    static func describe(_ event: ClientEvent) -> String {
        switch event {
        case .contactOpened(let e): "contact \(e.contactID) opened: customer \(e.customer), agent \(e.agent)"
        case .contactClosed(let e): "contact \(e.contactID) closed by \(e.by) (\(e.reason))"
        case .chat(let e): "[\(e.contactID)] \(e.from): \(e.text)"
        case .requestVideoUpgrade(let e): "\(e.from.id) asks to upgrade contact \(e.contactID) (audio \(e.useAudio), video \(e.useVideo))"
        case .responseVideoUpgrade(let e): "upgrade of \(e.contactID) \(e.response ? "accepted" : "refused") by \(e.by)\(e.reason.map { " (\($0))" } ?? "")"
        case .requestCancelled(let e): "upgrade request on \(e.contactID) cancelled (\(e.reason))"
        case .roomStarted(let e): "video room \(e.roomID) started for \(e.contactID)"
        case .roomEnded(let e): "video room \(e.roomID) ended (\(e.reason))"
        case .participant(let e): "\(e.eventName): \(e.participant.map(\.id) ?? (e.participants ?? []).map(\.id).joined(separator: ", "))"
        case .recordRoom(let e): "asked to record room \(e.roomID)"
        case .error(let e): "hub error \(e.code.rawValue): \(e.message)"
        case .recordingStatus(let e):
            "recording of room \(e.roomID): \(e.status.rawValue)\(e.recorder.map { " by \($0)" } ?? "")\(e.reason.map { " (\($0))" } ?? "")"
        case .disconnected(let reason): "disconnected: \(reason)"
        case .connectionLost(let reason): "connection to the hub lost (\(reason)); reconnecting"
        case .reconnected(let welcome): "reconnected to the hub as \(welcome.participant.id)"
        case .media(let status):
            "media \(status.state.rawValue) in room \(status.roomID): \(status.statistics.packetsSent) packets sent, \(status.statistics.packetsReceived) received"
        }
    }
}
