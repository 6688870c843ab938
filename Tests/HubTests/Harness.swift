import CTLive
import Foundation
import Hub
import Logging
import Signaling
import Synchronization
import XCTest
import ZeroMQ

/// A clock that moves only when a test moves it (the hub's timers and rate limits then run on it).
final class ManualClock: HubClock {
    private let instant = Mutex((ContinuousClock.now, Date(timeIntervalSince1970: 1_900_000_000)))
    var now: ContinuousClock.Instant { instant.withLock { $0.0 } }
    var wallNow: Date { instant.withLock { $0.1 } }
    func advance(_ duration: Duration) {
        instant.withLock { $0 = ($0.0 + duration, $0.1.addingTimeInterval(Double(duration / .milliseconds(1)) / 1000)) }
    }
}

/// A real hub on a loopback port chosen by the system, and real clients.
final class HubHarness {
    let hub: Hub
    let endpoint: String

    init(requestTimeout: Duration = .seconds(30), heartbeatTimeout: Duration = .seconds(3), keys: KeysFile? = nil,
         recordingRequired: Bool = false, recordingGrace: Duration = .seconds(10), clock: (any HubClock)? = nil) throws {
        var configuration = HubConfiguration()
        if let clock { configuration.clock = clock }
        configuration.signalingEndpoint = "tcp://127.0.0.1:0"
        configuration.mediaEndpoint = "tcp://127.0.0.1:0"
        configuration.policy.requestTimeout = requestTimeout
        configuration.policy.heartbeatTimeout = heartbeatTimeout
        configuration.policy.heartbeatInterval = .milliseconds(200)
        configuration.keys = keys
        configuration.policy.recordingRequired = recordingRequired
        configuration.policy.recordingGrace = recordingGrace
        var logger = Logger(label: "test.hub")
        logger.logLevel = .warning
        hub = Hub(configuration: configuration, logger: logger)
        endpoint = try hub.start()
    }

    deinit { hub.stop() }

    func client(_ role: Role, _ id: String, queues: [String]? = nil, delegateFor: [String]? = nil, records: Bool? = nil, curve: CurveClientKeys? = nil,
                engagesMedia: Bool = true, reconnects: Bool = true) -> CTLiveClient {
        var logger = Logger(label: "test.\(id)")
        logger.logLevel = .warning
        var configuration = ClientConfiguration(hub: endpoint, hello: Hello(role: role, userId: id, queues: queues, delegateFor: delegateFor, records: records), curve: curve)
        configuration.replyTimeout = .seconds(3)
        configuration.engagesMedia = engagesMedia
        if !reconnects { configuration.reconnect = nil }
        return CTLiveClient(configuration: configuration, logger: logger)
    }

    func connected(_ role: Role, _ id: String, queues: [String]? = nil, delegateFor: [String]? = nil, records: Bool? = nil) async throws -> CTLiveClient {
        let client = client(role, id, queues: queues, delegateFor: delegateFor, records: records)
        try await client.connect()
        return client
    }
}

/// Records a client's events; tests wait for the next one that matches.
final class EventReader: Sendable {
    private let log = Mutex<(events: [ClientEvent], cursor: Int)>(([], 0))

    init(_ client: CTLiveClient) {
        client.onEvent { [weak self] event in self?.log.withLock { $0.events.append(event) } }
    }

    /// The next event after the last one returned that matches `predicate`, or a failure after `timeout`.
    @discardableResult
    func next(_ what: String, timeout: Duration = .seconds(5), where predicate: @escaping @Sendable (ClientEvent) -> Bool,
              file: StaticString = #filePath, line: UInt = #line) async throws -> ClientEvent {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let found: ClientEvent? = log.withLock { state in
                guard let index = state.events[state.cursor...].firstIndex(where: predicate) else { return nil }
                state.cursor = index + 1
                return state.events[index]
            }
            if let found { return found }
            try await Task.sleep(for: .milliseconds(5))
        }
        XCTFail("no \(what) within \(timeout)", file: file, line: line)
        throw CancellationError()
    }

    /// Every event so far.
    var all: [ClientEvent] { log.withLock { $0.events } }
}

/// A raw DEALER socket, for sending what the SDK never would.
final class RawPeer {
    let socket: Socket

    init(_ endpoint: String) throws {
        socket = try Socket(try Context(), .dealer)
        try socket.setLinger(milliseconds: 0)
        try socket.connect(endpoint)
    }

    func send(_ text: String) throws { try socket.send([Data(text.utf8)]) }
    func send(frames: [Data]) throws { try socket.send(frames) }

    /// The next message as a JSON object (waits up to `timeoutMilliseconds`).
    func receive(timeoutMilliseconds: Int = 3000) throws -> [String: Any] {
        var poller = Poller()
        try poller.add(.socket(socket))
        guard !(try poller.poll(timeoutMilliseconds: timeoutMilliseconds)).isEmpty, let (message, _) = try socket.receive(wait: false) else {
            throw ZMQError(operation: "no reply", errno: EAGAIN)
        }
        return try JSONSerialization.jsonObject(with: message.frames[0]) as! [String: Any]
    }
}
