import Bot
import CTLive
import CTLiveMedia
import Foundation
import Hub
import Logging
import Media
import PolicyHost
import Recorder
import Signaling
import Synchronization
import TestKit

/// A real hub (signaling and media relay on loopback ports the system picks) and real SDK clients.
public final class LiveSession {
    public private(set) var hub: Hub
    public let endpoint: String
    /// The clients this session made: closed with it. A client whose handler holds it (an accepting agent) would
    /// otherwise outlive its test and go on reconnecting, as "A1", to a port a later test's hub may get.
    private let clients = Mutex<[CTLiveClient]>([])

    public init(requestTimeout: Duration = .seconds(30), witness: ChainWitness? = nil) throws {
        var configuration = HubConfiguration()
        configuration.policy.witness = witness
        configuration.signalingEndpoint = "tcp://127.0.0.1:0"
        configuration.mediaEndpoint = "tcp://127.0.0.1:0"
        configuration.policy.requestTimeout = requestTimeout
        hub = Hub(configuration: configuration, logger: quietLogger("hub"))
        endpoint = try hub.start()
    }

    deinit {
        hub.stop()
        for client in clients.withLock({ $0 }) { Task { await client.close() } }
    }

    /// Stops the hub (it says nothing to anyone, as a killed one would) and, after `downtime`, starts a
    /// new one on the same endpoints, knowing nothing of the old one's clients, contacts and rooms.
    public func restartHub(downtime: Duration) async throws {
        var configuration = hub.configuration
        configuration.signalingEndpoint = endpoint
        configuration.mediaEndpoint = hub.mediaEndpoint
        hub.stop()
        try await Task.sleep(for: downtime)
        hub = Hub(configuration: configuration, logger: quietLogger("hub"))
        _ = try hub.start()
    }

    /// A connected client that publishes a test picture in `color` and a tone at `tone` Hz once in a room.
    public func participant(_ role: Role, _ id: String, color: String, tone: Double) async throws -> CTLiveClient {
        var configuration = ClientConfiguration(hub: endpoint, hello: Hello(role: role, userId: id))
        configuration.media = MediaSourceOptions(kind: .testsrc, color: RGB(parsing: color)!, toneHz: tone, width: 320, height: 180, fps: 15)
        let client = CTLiveClient(configuration: configuration, logger: quietLogger(id))
        clients.withLock { $0.append(client) }
        try await client.connect()
        return client
    }

    /// An agent that accepts every request addressed to it.
    public func acceptingAgent(_ id: String, color: String, tone: Double) async throws -> CTLiveClient {
        let agent = try await participant(.agent, id, color: color, tone: tone)
        agent.onEvent { event in
            guard case .requestVideoUpgrade(let request) = event else { return }
            Task { try await agent.request(ResponseVideoUpgrade(contactID: request.contactID, response: true, divID: "agentPanel")) }
        }
        return agent
    }

    /// A bot recording under `root`. Its composites are live by default: the tests probe `recording.mp4`
    /// as soon as a session ends (a live composite that falls behind is still rendered after, and waited for).
    public func bot(root: String, policy: PolicyEngine? = nil, layout: Layout = .grid, size: (Int32, Int32)? = nil,
                    composite: CompositeMode = .live, signingKey: String? = nil) async throws -> RecorderBot {
        var configuration = BotConfiguration(hub: endpoint, userId: "rec-\(UUID().uuidString.prefix(6))")
        configuration.signingKey = signingKey
        configuration.composite = composite
        configuration.recordingsRoot = root
        configuration.layout = layout
        if let (width, height) = size { (configuration.width, configuration.height) = (width, height) }
        let bot = RecorderBot(configuration: configuration, policy: policy, logger: quietLogger("bot"))
        try await bot.start()
        return bot
    }
}

