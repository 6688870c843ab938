import Bot
import CTLive
import Foundation
import Hub
import Logging
import Media
import PolicyHost
import TestKit
import Recorder
import Signaling
import Synchronization
import XCTest

/// A real hub (signaling and media relay on loopback ports the system picks) and real SDK clients.
final class LiveSession {
    private(set) var hub: Hub
    let endpoint: String

    init(requestTimeout: Duration = .seconds(30)) throws {
        var configuration = HubConfiguration()
        configuration.signalingEndpoint = "tcp://127.0.0.1:0"
        configuration.mediaEndpoint = "tcp://127.0.0.1:0"
        configuration.policy.requestTimeout = requestTimeout
        hub = Hub(configuration: configuration, logger: quietLogger("hub"))
        endpoint = try hub.start()
    }

    deinit { hub.stop() }

    /// Stops the hub (it says nothing to anyone, as a killed one would) and, after `downtime`, starts a
    /// new one on the same endpoints, knowing nothing of the old one's clients, contacts and rooms.
    func restartHub(downtime: Duration) async throws {
        var configuration = hub.configuration
        configuration.signalingEndpoint = endpoint
        configuration.mediaEndpoint = hub.mediaEndpoint
        hub.stop()
        try await Task.sleep(for: downtime)
        hub = Hub(configuration: configuration, logger: quietLogger("hub"))
        _ = try hub.start()
    }

    /// A connected client that publishes a test picture in `color` and a tone at `tone` Hz once in a room.
    func participant(_ role: Role, _ id: String, color: String, tone: Double) async throws -> CTLiveClient {
        var configuration = ClientConfiguration(hub: endpoint, hello: Hello(role: role, userId: id))
        configuration.media = MediaSourceOptions(kind: .testsrc, color: RGB(parsing: color)!, toneHz: tone, width: 320, height: 180, fps: 15)
        let client = CTLiveClient(configuration: configuration, logger: quietLogger(id))
        try await client.connect()
        return client
    }

    /// An agent that accepts every request addressed to it.
    func acceptingAgent(_ id: String, color: String, tone: Double) async throws -> CTLiveClient {
        let agent = try await participant(.agent, id, color: color, tone: tone)
        agent.onEvent { event in
            guard case .requestVideoUpgrade(let request) = event else { return }
            Task { try await agent.request(ResponseVideoUpgrade(contactID: request.contactID, response: true, divID: "agentPanel")) }
        }
        return agent
    }

    func bot(root: String, policy: PolicyEngine? = nil, layout: Layout = .grid, size: (Int32, Int32)? = nil) async throws -> RecorderBot {
        var configuration = BotConfiguration(hub: endpoint, userId: "rec-\(UUID().uuidString.prefix(6))")
        configuration.recordingsRoot = root
        configuration.layout = layout
        if let (width, height) = size { (configuration.width, configuration.height) = (width, height) }
        let bot = RecorderBot(configuration: configuration, policy: policy, logger: quietLogger("bot"))
        try await bot.start()
        return bot
    }
}

/// The `recordingStatus` events a client heard, in order.
final class RecordingStatusLog: Sendable {
    private let log = Mutex<[RecordingStatus]>([])
    init(_ client: CTLiveClient) {
        client.onEvent { [weak self] event in
            if case .recordingStatus(let status) = event { self?.log.withLock { $0.append(status) } }
        }
    }
    var all: [RecordingStatus] { log.withLock { $0 } }
    var statuses: [String] { all.map(\.status.rawValue) }
}

func quietLogger(_ label: String) -> Logger {
    var logger = Logger(label: "test.\(label)")
    logger.logLevel = .error
    return logger
}

/// Waits until `condition` holds, polling; fails after `timeout`.
func eventually(_ what: String, timeout: Duration = .seconds(15), file: StaticString = #filePath, line: UInt = #line,
                _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        if ContinuousClock.now > deadline {
            XCTFail("timed out waiting for \(what)", file: file, line: line)
            throw CancellationError()
        }
        try await Task.sleep(for: .milliseconds(50))
    }
}

/// The tiles of the layout in force at `time`, from the manifest.
func tiles(_ manifest: RecordingManifest, at time: Double) -> [Tile] {
    manifest.layoutChanges.last { $0.time <= time }?.tiles ?? []
}

/// Asserts each tile in force at `time` shows its participant's colour at its centre.
func assertTiles(_ decoded: Decoded, _ manifest: RecordingManifest, at time: Double, colors: [String: RGB], expected: Set<String>,
                 file: StaticString = #filePath, line: UInt = #line) {
    let shown = tiles(manifest, at: time)
    XCTAssertEqual(Set(shown.map(\.participantID)), expected, "participants tiled at \(time) s", file: file, line: line)
    for tile in shown {
        guard let color = colors[tile.participantID] else { continue }
        assertColor(decoded.pictures[time], tile.x + tile.width / 2, tile.y + tile.height / 2, color,
                    "\(tile.participantID) at \(time) s", file: file, line: line)
    }
}
