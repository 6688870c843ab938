import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Synchronization

/// What went wrong talking to Janus: the request, and Janus' own code and reason when it gave one.
public struct JanusError: Error, CustomStringConvertible {
    public let operation: String
    public let code: Int?
    public let reason: String
    public var description: String { "janus \(operation): \(reason)" + (code.map { " (\($0))" } ?? "") }
    public init(operation: String, code: Int?, reason: String) { self.operation = operation; self.code = code; self.reason = reason }
}

/// A client of Janus' HTTP API (the REST transport): sessions, plugin handles, and the long poll that brings
/// their events. One `HTTPClient` for the whole gateway; replies are size-limited and checked like any input.
public final class JanusClient: Sendable {
    public let endpoint: String
    let apiSecret: String?
    let http: HTTPClient
    let logger: Logger
    static let maximumReplyBytes = 1 << 20

    public init(endpoint: String, apiSecret: String?, logger: Logger) {
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.apiSecret = apiSecret
        self.logger = logger
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(timeout: .init(connect: .seconds(5))))
    }

    public func shutdown() async { try? await http.shutdown() }

    /// A new session, its long poll started. `onEvent` gets what no request waits for (webrtcup, hangup, …).
    public func createSession(onEvent: @escaping @Sendable (JanusEvent) -> Void) async throws -> JanusSession {
        let reply = try await post(path: "", ["janus": "create"], operation: "create session")
        guard let id = reply["data"]?["id"]?.integer else { throw JanusError(operation: "create session", code: nil, reason: "no session id") }
        let session = JanusSession(client: self, id: id, onEvent: onEvent)
        session.startPolling()
        return session
    }

    /// Janus API JSON. Answers `error` become a thrown ``JanusError``.
    func post(path: String, _ body: JSONValue, operation: String) async throws -> JSONValue {
        var body = body
        if case .object(var object) = body {
            object["transaction"] = .string(Self.transaction())
            if let apiSecret { object["apisecret"] = .string(apiSecret) }
            body = .object(object)
        }
        return try await send(raw: body, path: path, operation: operation)
    }

    func get(path: String, timeout: TimeAmount, operation: String) async throws -> JSONValue {
        var url = endpoint + path + "?maxev=16&rid=\(UInt64.random(in: 0...UInt64.max))"
        if let apiSecret { url += "&apisecret=\(apiSecret.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }
        return try await send(HTTPClientRequest(url: url), timeout: timeout, operation: operation)
    }

    private func send(_ request: HTTPClientRequest, timeout: TimeAmount, operation: String) async throws -> JSONValue {
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: timeout)
        } catch {
            throw JanusError(operation: operation, code: nil, reason: "\(error)")
        }
        let bytes = try await response.body.collect(upTo: Self.maximumReplyBytes)
        guard response.status == .ok else {
            throw JanusError(operation: operation, code: Int(response.status.code), reason: "HTTP \(response.status.code)")
        }
        let reply: JSONValue
        do { reply = try JSONValue.decode(Data(bytes.readableBytesView)) } catch {
            throw JanusError(operation: operation, code: nil, reason: "a reply that is not JSON")
        }
        if reply["janus"]?.string == "error" {
            throw JanusError(operation: operation, code: reply["error"]?["code"]?.integer.map(Int.init),
                             reason: reply["error"]?["reason"]?.string ?? "error")
        }
        return reply
    }

    static func transaction() -> String { String(UInt64.random(in: 0...UInt64.max), radix: 36) }
}

/// An event Janus pushed on a session's long poll.
public struct JanusEvent: Sendable {
    /// `event`, `webrtcup`, `media`, `slowlink`, `hangup`, `detached`, …
    public var kind: String
    public var handle: UInt64?
    public var transaction: String?
    /// `plugindata.data` of a plugin event.
    public var data: JSONValue?
    public var jsep: JSONValue?
    public var raw: JSONValue
}

/// One Janus session: handles are attached to it; its events come by long poll, which also keeps it alive.
public final class JanusSession: Sendable {
    public let id: UInt64
    let client: JanusClient
    let onEvent: @Sendable (JanusEvent) -> Void
    private let waiting = Mutex<[String: CheckedContinuation<JanusEvent, any Error>]>([:])
    private let poller = Mutex<Task<Void, Never>?>(nil)

    init(client: JanusClient, id: UInt64, onEvent: @escaping @Sendable (JanusEvent) -> Void) {
        self.client = client; self.id = id; self.onEvent = onEvent
    }

    public func attach(plugin: String) async throws -> JanusHandle {
        let reply = try await client.post(path: "/\(id)", ["janus": "attach", "plugin": .string(plugin)], operation: "attach \(plugin)")
        guard let handle = reply["data"]?["id"]?.integer else { throw JanusError(operation: "attach \(plugin)", code: nil, reason: "no handle id") }
        return JanusHandle(session: self, id: handle, plugin: plugin)
    }

    /// Ends the session and its handles (their PeerConnections hang up). Waiting requests fail.
    public func destroy() async {
        poller.withLock { $0?.cancel(); $0 = nil }
        _ = try? await client.post(path: "/\(id)", ["janus": "destroy"], operation: "destroy session")
        failAll(JanusError(operation: "session", code: nil, reason: "destroyed"))
    }

    func startPolling() {
        let task = Task { [weak self] in
            var failures = 0
            while !Task.isCancelled, let self {
                do {
                    let reply = try await self.client.get(path: "/\(self.id)", timeout: .seconds(40), operation: "poll events")
                    failures = 0
                    for event in reply.array ?? [reply] { self.dispatch(event) }
                } catch {
                    if Task.isCancelled { break }
                    failures += 1
                    self.client.logger.warning("janus long poll failed", metadata: ["session": "\(self.id)", "error": "\(error)"])
                    // Janus forgets a session after its timeout (60 s by default): past that, nothing waiting will come.
                    if failures >= 5 { self.failAll(JanusError(operation: "poll events", code: nil, reason: "\(error)")); break }
                    try? await Task.sleep(for: .milliseconds(500 * failures))
                }
            }
        }
        poller.withLock { $0 = task }
    }

    private func dispatch(_ raw: JSONValue) {
        guard let kind = raw["janus"]?.string, kind != "keepalive" else { return }
        let event = JanusEvent(kind: kind, handle: raw["sender"]?.integer, transaction: raw["transaction"]?.string,
                               data: raw["plugindata"]?["data"], jsep: raw["jsep"], raw: raw)
        if kind == "event", let transaction = event.transaction,
           let continuation = waiting.withLock({ $0.removeValue(forKey: transaction) }) {
            if let error = event.data?["error"]?.string {
                continuation.resume(throwing: JanusError(operation: "plugin request", code: event.data?["error_code"]?.integer.map(Int.init), reason: error))
            } else {
                continuation.resume(returning: event)
            }
            return
        }
        onEvent(event)
    }

    func wait(for transaction: String, _ send: @escaping @Sendable () async throws -> Void) async throws -> JanusEvent {
        try await withThrowingTaskGroup(of: JanusEvent?.self) { group in
            group.addTask {
                try await withCheckedThrowingContinuation { continuation in
                    self.waiting.withLock { $0[transaction] = continuation }
                    Task {
                        do { try await send() } catch {
                            self.waiting.withLock { $0.removeValue(forKey: transaction) }?.resume(throwing: error)
                        }
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: .seconds(15))
                self.waiting.withLock { $0.removeValue(forKey: transaction) }?
                    .resume(throwing: JanusError(operation: "plugin request", code: nil, reason: "no answer in 15 s"))
                return nil
            }
            defer { group.cancelAll() }
            while let result = try await group.next() { if let event = result { return event } }
            throw JanusError(operation: "plugin request", code: nil, reason: "no answer")
        }
    }

    private func failAll(_ error: JanusError) {
        let all = waiting.withLock { waiting in defer { waiting = [:] }; return Array(waiting.values) }
        for continuation in all { continuation.resume(throwing: error) }
    }
}

/// A handle on one plugin (VideoRoom, Streaming) within a session.
public final class JanusHandle: Sendable {
    public let id: UInt64
    public let plugin: String
    let session: JanusSession

    init(session: JanusSession, id: UInt64, plugin: String) { self.session = session; self.id = id; self.plugin = plugin }

    /// A synchronous plugin request (`create`, `rtp_forward`, `destroy`, …): its `plugindata.data`.
    public func request(_ body: JSONValue) async throws -> JSONValue {
        let operation = body["request"]?.string ?? "request"
        let reply = try await session.client.post(path: "/\(session.id)/\(id)", ["janus": "message", "body": body], operation: operation)
        let data = reply["plugindata"]?["data"] ?? .null
        if let error = data["error"]?.string {
            throw JanusError(operation: operation, code: data["error_code"]?.integer.map(Int.init), reason: error)
        }
        return data
    }

    /// An asynchronous plugin request (`joinandconfigure`, `watch`, `start`, `configure`): Janus acks it, and its
    /// answer (with a JSEP offer or answer, if any) comes as an event on the session.
    public func message(_ body: JSONValue, jsep: JSONValue? = nil) async throws -> (data: JSONValue, jsep: JSONValue?) {
        let transaction = JanusClient.transaction()
        let operation = body["request"]?.string ?? "message"
        var message: [String: JSONValue] = ["janus": "message", "body": body, "transaction": .string(transaction)]
        if let jsep { message["jsep"] = jsep }
        if let secret = session.client.apiSecret { message["apisecret"] = .string(secret) }
        let path = "/\(session.id)/\(id)", client = session.client, sent = JSONValue.object(message)
        let event = try await session.wait(for: transaction) {
            _ = try await client.send(raw: sent, path: path, operation: operation)
        }
        return (event.data ?? .null, event.jsep)
    }

    public func detach() async {
        _ = try? await session.client.post(path: "/\(session.id)/\(id)", ["janus": "detach"], operation: "detach")
    }
}

extension JanusClient {
    /// Posts a message that already carries its transaction.
    func send(raw: JSONValue, path: String, operation: String) async throws -> JSONValue {
        var request = HTTPClientRequest(url: endpoint + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: raw.encoded()))
        return try await send(request, timeout: .seconds(10), operation: operation)
    }
}
