import ArgumentParser
import Foundation
import Hub
import Signaling
import ZeroMQ

/// `ctlive bench signaling`: latency and throughput of one hub with many open contacts.
struct BenchSignalingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signaling",
        abstract: "Measure request→event latency and messages per second through one hub on loopback.")

    @Option(help: "Open contacts during the run.")
    var contacts = 1000

    @Option(help: "Customer and agent connections (contacts are spread over them).")
    var clients = 10

    @Option(help: "Latency samples of each kind.")
    var samples = 5000

    @Option(help: "Seconds of the throughput run.")
    var seconds: Double = 3

    @Option(help: "Messages in flight during the throughput run.")
    var window = 2000

    func validate() throws {
        guard contacts >= clients, clients >= 1, samples >= 100, seconds > 0, window >= 1 else {
            throw ValidationError("need contacts ≥ clients ≥ 1, samples ≥ 100, seconds > 0, window ≥ 1")
        }
    }

    func run() async throws {
        var configuration = HubConfiguration()
        configuration.signalingEndpoint = "tcp://127.0.0.1:0"
        configuration.mediaEndpoint = nil
        configuration.policy.requestTimeout = .seconds(600)
        configuration.policy.heartbeatTimeout = .seconds(600)
        // Few connections hold many contacts here: the per-customer limit is a guard against abuse, not a bench parameter.
        configuration.policy.maxContactsPerCustomer = contacts
        let hub = Hub(configuration: configuration, logger: LogSetup.logger("bench.hub", level: .error))
        let endpoint = try hub.start()
        defer { hub.stop() }
        let bench = try SignalingBench(endpoint: endpoint, clients: clients)
        try bench.open(contacts: contacts)
        print("hub \(endpoint): \(contacts) open contacts over \(clients) customers and \(clients) agents")

        let chat = try bench.latency(samples: samples) { contact in SendChat(contactID: contact, text: "latency probe") }
        print(Self.describe("chat → chat event", chat))
        let upgrade = try bench.upgradeLatency(samples: samples)
        print(Self.describe("requestVideoUpgrade → event", upgrade.request))
        print(Self.describe("responseVideoUpgrade → event", upgrade.response))

        let throughput = try bench.throughput(seconds: seconds, window: window)
        let statistics = hub.statistics
        print(String(format: "throughput: %.0f chat messages/s in, %.0f events/s out (%.0f hub messages/s in+out incl. replies), %d dropped",
                     throughput.sentPerSecond, throughput.eventsPerSecond, throughput.hubMessagesPerSecond, statistics.dropped))
    }

    static func describe(_ what: String, _ samples: [Duration]) -> String {
        let sorted = samples.sorted()
        func pct(_ p: Double) -> Double {
            let d = sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
            return Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12
        }
        return String(format: "%@: p50 %.0f µs, p99 %.0f µs, max %.0f µs (%d samples)", what, pct(0.5), pct(0.99), pct(1.0), sorted.count)
    }
}

/// Raw DEALER clients on one thread: the bench measures the hub, not the SDK's threads.
private final class SignalingBench {
    private let customers: [Socket]
    private let agents: [Socket]
    private var poller = Poller()
    /// contactID → (customer index, agent index)
    private var contacts: [(id: String, customer: Int, agent: Int)] = []
    private var nextID = 1
    private let clock = ContinuousClock()

    init(endpoint: String, clients: Int) throws {
        let context = try Context()
        func connect(_ role: Role, _ index: Int) throws -> Socket {
            let socket = try Socket(context, .dealer)
            try socket.setLinger(milliseconds: 0)
            try socket.setSendHighWaterMark(0)
            try socket.setReceiveHighWaterMark(0)
            try socket.connect(endpoint)
            return socket
        }
        customers = try (0..<clients).map { try connect(.customer, $0) }
        agents = try (0..<clients).map { try connect(.agent, $0) }
        for socket in customers + agents { try poller.add(.socket(socket)) }
        let run = UInt32.random(in: 0..<UInt32.max)
        for (index, socket) in agents.enumerated() {
            _ = try call(socket, Hello(role: .agent, userId: "bench-a\(index)-\(run)"))
        }
        for (index, socket) in customers.enumerated() {
            _ = try call(socket, Hello(role: .customer, userId: "bench-c\(index)-\(run)"))
        }
        agentIDs = (0..<clients).map { "bench-a\($0)-\(run)" }
    }

    private var agentIDs: [String] = []

    /// Sends a request and waits for its reply (events arriving meanwhile are dropped).
    private func call(_ socket: Socket, _ message: some WireMessage) throws -> [String: Any] {
        let id = nextID
        nextID += 1
        try socket.send([WireCodec.encode(message, id: id)])
        while true {
            guard let (reply, _) = try socket.receive() else { continue }
            let object = try JSONSerialization.jsonObject(with: reply.frames[0]) as! [String: Any]
            if object["re"] as? Int == id { return object }
        }
    }

    func open(contacts count: Int) throws {
        for index in 0..<count {
            let customer = index % customers.count
            let agent = (index / customers.count) % agents.count
            let reply = try call(customers[customer], OpenContact(agent: agentIDs[agent]))
            guard let id = reply["contactID"] as? String else { throw ValidationError("openContact failed: \(reply)") }
            contacts.append((id, customer, agent))
        }
        drain()
    }

    /// Discards whatever events are queued.
    private func drain() {
        for socket in customers + agents { while (try? socket.receive(wait: false)) != nil {} }
    }

    /// Waits on `socket` for a message of `type`, returning when it arrived.
    private func arrival(of type: String, on socket: Socket) throws -> ContinuousClock.Instant {
        let marker = Data("\"type\":\"\(type)\"".utf8)
        while true {
            guard let (message, _) = try socket.receive() else { continue }
            if message.frames[0].range(of: marker) != nil { return clock.now }
        }
    }

    func latency(samples: Int, _ make: (String) -> some WireMessage) throws -> [Duration] {
        var result: [Duration] = []
        for index in 0..<samples {
            let contact = contacts[index % contacts.count]
            let start = clock.now
            try customers[contact.customer].send([WireCodec.encode(make(contact.id), id: 0)])
            let arrived = try arrival(of: "chat", on: agents[contact.agent])
            result.append(arrived - start)
        }
        drain()
        return result
    }

    func upgradeLatency(samples: Int) throws -> (request: [Duration], response: [Duration]) {
        var requests: [Duration] = []
        var responses: [Duration] = []
        for index in 0..<samples {
            let contact = contacts[index % contacts.count]
            let start = clock.now
            try customers[contact.customer].send([WireCodec.encode(RequestVideoUpgrade(contactID: contact.id, divID: "p", useAudio: true, useVideo: true), id: 0)])
            requests.append(try arrival(of: "requestVideoUpgrade", on: agents[contact.agent]) - start)
            let answered = clock.now
            try agents[contact.agent].send([WireCodec.encode(ResponseVideoUpgrade(contactID: contact.id, response: false, divID: "p"), id: 0)])
            responses.append(try arrival(of: "responseVideoUpgrade", on: customers[contact.customer]) - answered)
        }
        drain()
        return (requests, responses)
    }

    /// Pipelined chat: keeps `window` messages in flight and counts events delivered to agents.
    func throughput(seconds: Double, window: Int) throws -> (sentPerSecond: Double, eventsPerSecond: Double, hubMessagesPerSecond: Double) {
        var sent = 0, events = 0, replies = 0, index = 0
        let start = clock.now
        let end = start + .milliseconds(Int(seconds * 1000))
        let chat = Data("\"type\":\"chat\"".utf8)
        while clock.now < end {
            while sent - events < window {
                let contact = contacts[index % contacts.count]
                index += 1
                try customers[contact.customer].send([WireCodec.encode(SendChat(contactID: contact.id, text: "throughput"), id: 0)], wait: false)
                sent += 1
            }
            _ = try poller.poll(timeoutMilliseconds: 10)
            for socket in agents {
                while let (message, _) = try socket.receive(wait: false) {
                    if message.frames[0].range(of: chat) != nil { events += 1 }
                }
            }
            for socket in customers {
                while let (_, _) = try socket.receive(wait: false) { replies += 1 }
            }
        }
        let elapsed = clock.now - start
        let secondsElapsed = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        // Per chat the hub reads one message and writes an ok plus an event to each member.
        return (Double(sent) / secondsElapsed, Double(events) / secondsElapsed, Double(sent * 4) / secondsElapsed)
    }
}
