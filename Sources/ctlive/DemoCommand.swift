import ArgumentParser
import Bot
import CTLive
import CTLiveMedia
import Evidence
import Foundation
import Hub
import Logging
import Media
import PolicyHost
import Recorder
import Review
import Signaling

/// `ctlive demo`: the whole product in one command, over real ZeroMQ on loopback.
///
/// The hub, a recorder bot with the default policy, a customer, an agent and a supervisor are the same
/// library types the separate commands run (`Hub`, `RecorderBot`, `CTLiveClient`), in this process; the
/// policy plugins run in their worker child process.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a whole escalation end to end: hub, recorder bot with policy, customer, agent, supervisor; print where the recording is.")

    @Option(help: "Seconds of video session.")
    var seconds: Double = 12

    @Option(help: "Composite layout: grid or speaker.")
    var layout: Layout = .grid

    @Option(help: ArgumentHelp("A media file the customer publishes instead of the test picture.", valueName: "PATH"))
    var source: String?

    @Option(help: "Where recordings go.")
    var recordings = "Recordings"

    @Option(help: ArgumentHelp("The policy file the bot answers with (default: Plugins/default-policy.json).", valueName: "FILE"))
    var policy: String?

    @Option(help: "Log level on stderr.")
    var logLevel: Logger.Level = .error

    func validate() throws {
        guard seconds >= 4, seconds <= 600 else { throw ValidationError("--seconds must be 4-600") }
        if let source, !FileManager.default.isReadableFile(atPath: source) {
            throw ValidationError("--source \(source): no such readable file")
        }
    }

    func run() async throws {
        let logger = LogSetup.logger("ctlive.demo", level: logLevel)
        let progress = Progress(total: seconds)
        let started = ContinuousClock.now

        // `swift run ctlive` builds ctlive alone: build the plugins the policy names if they are missing.
        let policyPath = policy ?? Self.defaultPolicyPath()
        do {
            try PluginBuilder.ensurePlugins(policyPath: policyPath, directories: defaultPluginDirectories()) { progress.say($0) }
        } catch {
            Output.fail("cannot build the policy plugins: \(error)")
        }

        // The hub, on the default ports when free, else on ports the system picks.
        let (hub, endpoint) = try startHub(logger: logger, progress: progress)
        defer { hub.stop() }

        // The bot, answering for the demo agent by the default policy.
        let engine: PolicyEngine
        do {
            try FileManager.default.createDirectory(atPath: recordings, withIntermediateDirectories: true)
            engine = try PolicyEngine(policyPath: policyPath, pluginDirectories: defaultPluginDirectories(),
                                      auditLogPath: "\(recordings)/decisions.jsonl", logger: logger)
        } catch {
            Output.fail("cannot load the policy \(policyPath): \(error)")
        }
        var botConfiguration = BotConfiguration(hub: endpoint, userId: "recorder-demo")
        botConfiguration.recordingsRoot = recordings
        botConfiguration.layout = layout
        // The demo shows the composite at once: made live (and rendered from the originals at the end if the
        // machine was too busy for that).
        botConfiguration.composite = .live
        // Recordings are evidence: the demo signs with a key of its own, made once under the recordings folder.
        let keyPath = recordings + "/signing-key"
        if !FileManager.default.fileExists(atPath: keyPath) {
            do { try SigningKey.generate().write(to: keyPath) } catch { Output.fail("cannot make a signing key: \(error)") }
        }
        botConfiguration.signingKey = keyPath
        do { try RecorderBot.publishSigningKey(botConfiguration) } catch { Output.fail("cannot use the signing key \(keyPath): \(error)") }
        let bot = RecorderBot(configuration: botConfiguration, policy: engine, logger: logger)
        try await bot.start()
        progress.say("bot connected; answers for \(bot.delegatedAgents.joined(separator: ", "))")

        // The people.
        // They talk in turns (a louder tone), so the recorder's speaker detection has someone to follow.
        let agent = try await Self.client(endpoint, .agent, "agent-demo", "Alex", .testsrc, color: "#20a040", tone: 660, talk: (4, 0.5, 0.5), logger)
        let customer = try await Self.client(endpoint, .customer, "customer-demo", "Casey",
                                             source.map { .file($0) } ?? .testsrc, color: "#2060e0", tone: 440, talk: (4, 0, 0.5), logger)
        let supervisor = try await Self.client(endpoint, .supervisor, "supervisor-demo", "Sam", .testsrc, color: "#e0a020", tone: 990,
                                               talk: (4, 0.25, 0.3), logger)
        let answers = DemoAnswers(customer)

        // Whatever happens in the session, the clients and the bot are stopped so that the recording is finished.
        var failure: (any Error)?
        do {
            let contact = try await customer.openContact(agent: "agent-demo", attributes: ["tier": "gold", "language": "en"])
            progress.say("contact \(contact.id) opened")
            try await contact.sendChat("Hello, my router keeps dropping the connection.")
            try await Task.sleep(for: .milliseconds(300))
            try await agent.request(SendChat(contactID: contact.id, text: "Sorry to hear that. Shall we look at it on video?"))
            try await Task.sleep(for: .milliseconds(300))
            try await contact.requestVideoUpgrade(divID: "videoPanel", useAudio: true, useVideo: true)
            progress.say("customer asked for audio/video")
            guard let answer = await answers.next(timeout: .seconds(10)) else { throw ValidationError("no answer to the upgrade request") }
            progress.say("policy \(answer.response ? "accepted" : "refused"): \(answer.reason ?? "")")
            guard answer.response else { throw ValidationError("the policy refused the upgrade: \(answer.reason ?? "no reason")") }

            // The session: a supervisor joins midway and leaves again.
            let room = Clock(seconds: seconds)
            try await contact.sendChat("I can see you now.")
            try await room.until(0.35) { progress.tick($0, "in the room: customer and agent") }
            try await supervisor.superviseRoom(contactID: contact.id)
            progress.say("supervisor joined")
            try await room.until(0.7) { progress.tick($0, "in the room: customer, agent and supervisor") }
            try await supervisor.leaveRoom(contactID: contact.id, roomID: contact.roomID)
            progress.say("supervisor left")
            try await agent.request(SendChat(contactID: contact.id, text: "Restart the router and it should be fine."))
            try await room.until(1.0) { progress.tick($0, "in the room: customer and agent") }
            try await contact.videoDisconnectAndDestruct()
            _ = try? await agent.request(VideoDisconnect(contactID: contact.id))
            progress.say("session ended; finishing the recording")
        } catch {
            failure = error
        }
        if failure == nil {
            let deadline = ContinuousClock.now + .seconds(30)
            while bot.finished.isEmpty && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        }
        await customer.close()
        await agent.close()
        await supervisor.close()
        await bot.stop()
        progress.done()
        if let failure { Output.fail("the demo stopped: \(failure)") }
        guard var result = bot.finished.first else { Output.fail("the recording did not finish") }
        if result.composite.state == "queued" {
            progress.say("the live composite was deferred (\(result.composite.reason ?? "")); rendering it from the originals")
            do {
                let rendered = try CompositeJob.render(directory: result.directory, key: try SigningKey.load(path: keyPath), logger: logger)
                (result.composite.state, result.composite.sha256) = ("rendered", rendered.sha256)
                _ = try? ReviewPage.write(manifestPath: result.manifestPath, logger: logger)
            } catch {
                Output.fail("cannot render the composite: \(error)")
            }
        }
        try Self.summary(result, elapsed: ContinuousClock.now - started)
    }

    // MARK: Parts

    /// The hub, on the default ports when they are free, else on ports the system picks.
    private func startHub(logger: Logger, progress: Progress) throws -> (Hub, String) {
        var configuration = HubConfiguration()
        configuration.policy.requestTimeout = .seconds(10)
        var hub = Hub(configuration: configuration, logger: logger)
        do {
            let bound = try hub.start()
            progress.say("hub on \(bound), media on \(hub.mediaEndpoint ?? "-")")
            return (hub, bound)
        } catch {
            // Only taken ports are worked around; any other failure is the demo's.
            let taken = error.isAddressInUse
            if !taken { throw error }
            progress.say("default ports 5555/5556 are taken (\(error)); using free ones")
        }
        configuration.signalingEndpoint = "tcp://127.0.0.1:0"
        configuration.mediaEndpoint = "tcp://127.0.0.1:0"
        hub = Hub(configuration: configuration, logger: logger)
        let bound = try hub.start()
        progress.say("hub on \(bound), media on \(hub.mediaEndpoint ?? "-")")
        return (hub, bound)
    }

    private static func client(_ endpoint: String, _ role: Role, _ id: String, _ name: String, _ kind: MediaSourceOptions.Kind,
                               color: String, tone: Double, talk: (period: Double, phase: Double, share: Double),
                               _ logger: Logger) async throws -> CTLiveClient {
        var configuration = ClientConfiguration(hub: endpoint, hello: Hello(role: role, userId: id, name: name))
        var media = MediaSourceOptions(kind: kind, color: RGB(parsing: color)!, toneHz: tone, width: 640, height: 360, fps: 30)
        (media.talkPeriod, media.talkPhase, media.talkShare) = (talk.period, talk.phase, talk.share)
        configuration.media = media
        let client = CTLiveClient(configuration: configuration, logger: logger)
        do { try await client.connect() } catch { Output.fail("\(id) cannot join the hub at \(endpoint): \(error)") }
        return client
    }

    static func defaultPolicyPath() -> String {
        // Beside the sources when run from the checkout; the build folder is .build/<triple>/debug.
        let candidates = [FileManager.default.currentDirectoryPath + "/Plugins/default-policy.json"]
            + defaultPluginDirectories().map { ($0 as NSString).appendingPathComponent("../../../Plugins/default-policy.json") }
        return candidates.first { FileManager.default.fileExists(atPath: $0) } ?? candidates[0]
    }

    private static func summary(_ result: RecordingResult, elapsed: Duration) throws {
        let manifest = try JSONDecoder().decode(RecordingManifest.self, from: Data(contentsOf: URL(fileURLWithPath: result.manifestPath)))
        let size = (try? FileManager.default.attributesOfItem(atPath: result.recordingPath)[.size] as? Int) ?? 0
        let decisions = manifest.events.filter { $0.kind == "answer" || $0.kind == "decision" }
        let packets = manifest.originals?.tracks.map(\.packets).reduce(0, +) ?? 0
        var lines = [
            "",
            "recording   \(result.recordingPath)",
            "originals   \(result.originalsPath)",
            "manifest    \(result.manifestPath)",
        ]
        let review = result.directory + "/review.html"
        if FileManager.default.fileExists(atPath: review) { lines.append("review page \(review)") }
        lines += [
            String(format: "duration    %.1f s, %.1f MB, sha256 %@ (the originals)", result.duration, Double(size) / 1e6, result.sha256),
            "record      \(packets) packets of \(manifest.originals?.tracks.count ?? 0) tracks kept as sent; composite \(result.composite.mode ?? "") \(result.composite.state)",
            "participants " + manifest.participants.map { p in
                String(format: "%@ (%@, %.1f-%.1f s)", p.name, p.role, p.joinedAt, p.leftAt ?? result.duration)
            }.joined(separator: "; "),
        ]
        for decision in decisions {
            if decision.kind == "answer" {
                lines.append("answer      \(decision.fields["response"] == "true" ? "accepted" : "refused") by \(decision.fields["by"] ?? "?"): \(decision.fields["reason"] ?? "")")
            } else if let json = decision.fields["audit"], let audit = try? JSONDecoder().decode(AuditRecord.self, from: Data(json.utf8)) {
                let chain = audit.plugins.map { "\($0.plugin): \($0.verdict) (\($0.reason))" }.joined(separator: ", ")
                lines.append("decision    \(audit.decisionID): \(chain)")
            }
        }
        if result.errors.total > 0 { lines.append("problems    \(manifest.problems.joined(separator: "; "))") }
        lines.append(String(format: "demo took %.1f s", Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
        for line in lines { Output.line(line) }
    }
}

/// The room's own clock: fractions of the session length.
private struct Clock {
    let seconds: Double
    let start = ContinuousClock.now

    var elapsed: Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// Waits until `fraction` of the session has passed, ticking the progress line.
    func until(_ fraction: Double, tick: (Double) -> Void) async throws {
        while elapsed < seconds * fraction {
            tick(elapsed)
            try await Task.sleep(for: .milliseconds(250))
        }
    }
}

/// The progress line: elapsed / total and what is happening.
private final class Progress: Sendable {
    let total: Double
    private let interactive = isatty(STDOUT_FILENO) != 0
    private let start = ContinuousClock.now

    init(total: Double) { self.total = total }

    func say(_ text: String) {
        if interactive { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)) }
        let elapsed = ContinuousClock.now - start
        Output.line(String(format: "[%5.1f s] %@", Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, text))
    }

    func tick(_ elapsed: Double, _ what: String) {
        guard interactive else { return }
        FileHandle.standardOutput.write(Data(String(format: "\r\u{1B}[K[%5.1f / %.1f s] %@", elapsed, total, what).utf8))
    }

    func done() {
        if interactive { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)) }
    }
}

/// The customer's answers to its upgrade request.
private final class DemoAnswers: Sendable {
    private let stream: AsyncStream<VideoUpgradeAnswered>

    init(_ client: CTLiveClient) {
        let (stream, continuation) = AsyncStream.makeStream(of: VideoUpgradeAnswered.self)
        self.stream = stream
        client.onEvent { event in
            if case .responseVideoUpgrade(let answer) = event { continuation.yield(answer) }
        }
    }

    func next(timeout: Duration) async -> VideoUpgradeAnswered? {
        await withTaskGroup(of: VideoUpgradeAnswered?.self) { group in
            group.addTask { var iterator = self.stream.makeAsyncIterator(); return await iterator.next() }
            group.addTask { try? await Task.sleep(for: timeout); return nil }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}
