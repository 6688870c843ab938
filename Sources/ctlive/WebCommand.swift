import AccessToken
import ArgumentParser
import CTLive
import Foundation
import Hub
import Logging
import WebGateway

/// `ctlive web`: browsers as participants. Serves ctlive.js and the pages, bridges WebSockets to the hub.
struct WebCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "web", abstract: "Serve the browser SDK and pages, and bridge browsers to the hub (WebSocket).",
        subcommands: [WebServeCommand.self, WebTokenCommand.self, WebSecretCommand.self], defaultSubcommand: WebServeCommand.self)
}

struct WebServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Serve /ctlive.js, /customer.html, /agent.html and the WebSocket /ws (the default).")

    @Option(help: ArgumentHelp("Where to listen (port 0: any free port, printed).", valueName: "HOST:PORT"))
    var http = "127.0.0.1:8080"

    @Option(help: "The hub's signaling endpoint.")
    var hub = HubConfiguration.defaultSignalingEndpoint

    @Option(help: ArgumentHelp("Admit a browser only with ?token= signed by this secret (see 'ctlive web token'). Without it, loopback only.",
                               valueName: "FILE"))
    var tokenSecret: String?

    @Option(help: ArgumentHelp("CURVE keys of the gateway (serverPublicKey, publicKey, secretKey), listed under 'gateways' in the hub's keys file.",
                               valueName: "FILE"))
    var curve: String?

    @Option(help: ArgumentHelp("Media waiting for one browser past which more is dropped (it then resumes at a keyframe).", valueName: "KiB"))
    var mediaQueue = 2048

    @Option(name: .customLong("allow-origin"),
            help: ArgumentHelp("Also let pages of this origin load the SDK and connect (repeatable): https://crm.example.com", valueName: "ORIGIN"))
    var allowedOrigins: [String] = []

    @Option(name: .customLong("trusted-proxy"),
            help: ArgumentHelp("A reverse proxy's address whose X-Forwarded-Host / Forwarded host= is believed (repeatable).", valueName: "IP"))
    var trustedProxies: [String] = []

    @Option(help: ArgumentHelp("Janus' HTTP API: browsers' media goes over WebRTC through it (docs/WEBRTC.md); without, over the WebSocket.",
                               valueName: "URL"))
    var janus: String?

    @Option(help: ArgumentHelp("A file holding Janus' API secret (its 'api_secret').", valueName: "FILE"))
    var janusSecret: String?

    @Option(help: ArgumentHelp("This gateway's address as Janus reaches it: where Janus forwards the browsers' RTP.", valueName: "IP"))
    var janusForwardHost = "127.0.0.1"

    @Option(name: .customLong("ice-server"),
            help: ArgumentHelp("A STUN or TURN server for pages (repeatable): stun:HOST:PORT, turn:HOST:PORT?transport=udp", valueName: "URL"))
    var iceServers: [String] = []

    @Option(help: ArgumentHelp("TURN credentials minted per browser from this shared secret (coturn's static-auth-secret).", valueName: "FILE"))
    var turnSecret: String?

    @Option(help: ArgumentHelp("Fixed TURN credentials for every page.", valueName: "USER:PASSWORD"))
    var turnUser: String?

    @Option(help: ArgumentHelp("A page whose ICE has not connected after this long uses the WebSocket for media.", valueName: "SECONDS"))
    var iceTimeout: Double = 8

    @Option(help: "Log level on stderr.")
    var logLevel: Logger.Level = .notice

    func validate() throws {
        guard (16...65536).contains(mediaQueue) else { throw ValidationError("--media-queue must be 16 to 65536 KiB") }
        for origin in allowedOrigins where GatewayConfiguration.normalizedOrigin(origin) == nil {
            throw ValidationError("--allow-origin \(origin): expected scheme://host[:port], e.g. https://crm.example.com")
        }
    }

    func run() async throws {
        let listen: (host: String, port: Int)
        do { listen = try GatewayConfiguration.parseListen(http) } catch { throw ValidationError(error.description) }
        var configuration = GatewayConfiguration(host: listen.host, port: listen.port, hub: hub)
        configuration.mediaQueueBytes = mediaQueue * 1024
        configuration.allowedOrigins = Set(allowedOrigins.compactMap(GatewayConfiguration.normalizedOrigin))
        configuration.webRTC = try webRTCSettings()
        configuration.trustedProxies = Set(trustedProxies)
        if let tokenSecret {
            do { configuration.tokenSecret = try TokenSecret.load(path: tokenSecret) } catch { throw ValidationError(error.description) }
        }
        if let curve {
            let keys: CurveClientKeys
            do { keys = try JSONDecoder().decode(CurveClientKeys.self, from: Data(contentsOf: URL(fileURLWithPath: curve))) } catch {
                throw ValidationError("cannot read CURVE keys from \(curve): \(error)")
            }
            configuration.curve = keys
        }
        let gateway: WebGateway
        do { gateway = try WebGateway(configuration: configuration, logger: LogSetup.logger("ctlive.web", level: logLevel)) } catch {
            Output.fail("\(error)")
        }
        let serving = Task {
            try await gateway.run { port in
                let host = listen.host.contains(":") ? "[\(listen.host)]" : listen.host
                Output.line("ctlive web serving http://\(host):\(port)/ (customer.html, agent.html, ctlive.js; WebSocket /ws) for the hub at \(hub)"
                            + (gateway.configuration.tokenSecret != nil ? ", tokens required" : ", loopback only"))
            }
        }
        let stop = await Shutdown.wait()
        serving.cancel()
        _ = await serving.result
        FileHandle.standardError.write(Data("ctlive web stopped (\(stop)): \(gateway.statistics.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))\n".utf8))
    }
}

struct WebTokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Print an access token for one browser user (what a contact center's back end would make).")

    @Option(help: ArgumentHelp("The token secret (at least 32 bytes; 'ctlive web secret' makes one).", valueName: "FILE"))
    var secret: String

    @Option(help: "customer, agent or supervisor.")
    var role: String

    @Option(help: "The user id the browser may speak as.")
    var user: String

    @Option(help: "Seconds the token is valid.")
    var ttl: Int = 3600

    func validate() throws {
        guard ["customer", "agent", "supervisor"].contains(role) else { throw ValidationError("--role must be customer, agent or supervisor") }
        guard ttl > 0, ttl <= 366 * 86_400 else { throw ValidationError("--ttl must be 1 s to a year") }
    }

    func run() throws {
        let secret: TokenSecret
        do { secret = try TokenSecret.load(path: self.secret) } catch { throw ValidationError(error.description) }
        let expires = Int64(Date().timeIntervalSince1970) + Int64(ttl)
        print(AccessToken.make(AccessClaims(role: role, user: user, expires: expires), secret: secret))
    }
}

struct WebSecretCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret", abstract: "Write a new random token secret (mode 0600).")

    @Argument(help: "The file to write; an existing file is not overwritten.")
    var file: String

    func run() throws {
        guard !FileManager.default.fileExists(atPath: file) else { throw ValidationError("\(file) exists: not overwritten") }
        guard FileManager.default.createFile(atPath: file, contents: Data((TokenSecret.generateText() + "\n").utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw ValidationError("cannot write \(file)")
        }
        print("wrote \(file)")
    }
}

extension WebServeCommand {
    func webRTCSettings() throws -> WebRTCSettings? {
        guard let janus else {
            if !iceServers.isEmpty { throw ValidationError("--ice-server needs --janus: without WebRTC, pages use no ICE") }
            return nil
        }
        guard let url = URL(string: janus) else { throw ValidationError("--janus \(janus): not a URL") }
        var settings = WebRTCSettings(janus: url)
        settings.apiSecret = try janusSecret.map { try SecretFile.read($0, what: "--janus-secret") }
        settings.forwardHost = janusForwardHost
        settings.iceServers = iceServers
        guard (1...120).contains(iceTimeout) else { throw ValidationError("--ice-timeout must be 1 to 120 seconds") }
        settings.iceTimeout = .milliseconds(Int(iceTimeout * 1000))
        settings.turnSecret = try turnSecret.map { try SecretFile.read($0, what: "--turn-secret") }
        if let turnUser {
            guard let colon = turnUser.firstIndex(of: ":") else { throw ValidationError("--turn-user: expected USER:PASSWORD") }
            settings.turnUser = String(turnUser[..<colon])
            settings.turnCredential = String(turnUser[turnUser.index(after: colon)...])
        }
        do { try settings.check() } catch { throw ValidationError(error.description) }
        return settings
    }
}

/// A secret kept in a file (never on the command line, where `ps` shows it): its first line.
enum SecretFile {
    static func read(_ path: String, what: String) throws -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let line = text.split(whereSeparator: \.isNewline).first, !line.isEmpty else {
            throw ValidationError("\(what) \(path): cannot read a secret from it")
        }
        return String(line).trimmingCharacters(in: .whitespaces)
    }
}
