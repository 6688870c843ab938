import Foundation
import Logging
import Signaling
import Synchronization
import ZeroMQ

/// The client's I/O: a ``SocketLoop`` thread owns the DEALER socket; requests reach it as jobs (the
/// loop's bounded inbox is the outbox), replies come back through the waiting continuations.
final class ClientIO: Sendable {
    struct Waiting {
        let continuation: CheckedContinuation<Result<any WireMessage, ClientError>, Never>
        let deadline: ContinuousClock.Instant
        let what: String
    }

    /// What callers and the loop thread share.
    struct Shared {
        var waiting: [Int: Waiting] = [:]
        var nextID = 1
        var running = false
        /// ``stop()`` was called: nothing new is taken.
        var stopRequested = false
        /// Set once, when the connection ends for good (stopped, or lost with no reconnection).
        var ended = false
        /// Between a lost connection and the next welcome: requests fail at once.
        var reconnecting = false
        var heartbeat: (interval: Duration, timeout: Duration)?
        var deliver: (@Sendable (ClientEvent) -> Void)?
    }

    /// Requests queued for the thread; more fail with ``ClientError/overloaded``.
    static let outboxLimit = 4096

    let configuration: ClientConfiguration
    let logger: Logger
    let shared = Mutex(Shared())
    private let loop = Mutex<SocketLoop<ClientConnection>?>(nil)

    init(configuration: ClientConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Where events go; set before ``start()``.
    var deliver: (@Sendable (ClientEvent) -> Void)? {
        get { shared.withLock { $0.deliver } }
        set { shared.withLock { $0.deliver = newValue } }
    }

    func setHeartbeat(interval: Duration, timeout: Duration) {
        shared.withLock { $0.heartbeat = (interval, timeout) }
    }

    func start() throws(ClientError) {
        guard shared.withLock({ state in
            defer { state.running = true }
            return !state.running
        }) else { return }
        do {
            let loop = try SocketLoop<ClientConnection>(name: "ctlive-client", inboxLimit: Self.outboxLimit, tickInterval: .milliseconds(100))
            try loop.start(
                context: try Context.shared(),
                makeState: { [self] owner in try ClientConnection(io: self, owner: owner) },
                tick: { connection, owner in connection.tick(owner) },
                tearDown: { [self] connection, owner in
                    connection.close(owner)
                    end(reason: "closed")
                })
            self.loop.withLock { $0 = loop }
        } catch {
            shared.withLock { $0.running = false }
            throw .transport(error as? ZMQError ?? ZMQError(operation: "start the client", errno: EIO))
        }
    }

    func makeSocket() throws(ZMQError) -> Socket {
        let socket = try Socket(try Context.shared(), .dealer)
        try socket.setLinger(milliseconds: 200)
        try socket.setMaxMessageSize(SignalingProtocol.transportMaxMessageBytes)
        try socket.setHeartbeat(intervalMilliseconds: 1000, timeoutMilliseconds: 5000)
        if let curve = configuration.curve {
            try socket.makeCurveClient(CurveKeyPair(publicKey: curve.publicKey, secretKey: curve.secretKey), serverKey: curve.serverPublicKey)
        }
        try socket.connect(configuration.hub)
        return socket
    }

    /// Ends the client; waits for the thread unless called on it (a handler releasing the client).
    func stop() {
        shared.withLock { $0.stopRequested = true }
        loop.withLock { $0 }?.stop()
    }

    /// Stops the loop from its own thread, after the connection ended for good.
    func stopFromLoop() { loop.withLock { $0 }?.stop() }

    func request(_ message: some WireMessage, timeout: Duration) async throws(ClientError) -> any WireMessage {
        let data = { (id: Int) in WireCodec.encode(message, id: id) }
        let what = "to \(type(of: message).type)"
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<any WireMessage, ClientError>, Never>) in
            let deadline = ContinuousClock.now + timeout
            let admitted: Result<Int, ClientError> = shared.withLock { state in
                guard state.running, !state.stopRequested, !state.ended else { return .failure(.disconnected("not connected")) }
                guard !state.reconnecting else { return .failure(.disconnected("reconnecting to the hub")) }
                let id = state.nextID
                state.nextID += 1
                state.waiting[id] = Waiting(continuation: continuation, deadline: deadline, what: what)
                return .success(id)
            }
            switch admitted {
            case .failure(let refusal): continuation.resume(returning: .failure(refusal))
            case .success(let id):
                let encoded = data(id)
                if !(loop.withLock { $0 }?.submit({ connection, _ in connection.enqueue(id: id, encoded) }) ?? false),
                   let waiting = shared.withLock({ $0.waiting.removeValue(forKey: id) }) {
                    waiting.continuation.resume(returning: .failure(.overloaded))
                }
            }
        }
        return try result.get()
    }

    func post(_ message: some WireMessage) throws(ClientError) {
        let refusal: ClientError? = shared.withLock { state in
            guard state.running, !state.stopRequested, !state.ended else { return .disconnected("not connected") }
            guard !state.reconnecting else { return .disconnected("reconnecting to the hub") }
            return nil
        }
        if let refusal { throw refusal }
        let encoded = WireCodec.encode(message)
        guard loop.withLock({ $0 })?.submit({ connection, _ in connection.enqueue(id: nil, encoded) }) ?? false else { throw .overloaded }
    }

    /// The requests whose time is up fail; returns their ids.
    func expireWaiting(now: ContinuousClock.Instant) -> Set<Int> {
        let expired = shared.withLock { state in
            let ids = state.waiting.filter { $0.value.deadline <= now }.map(\.key)
            return ids.compactMap { id in state.waiting.removeValue(forKey: id).map { (id, $0) } }
        }
        for (_, waiting) in expired { waiting.continuation.resume(returning: .failure(.timedOut(waiting.what))) }
        return Set(expired.map(\.0))
    }

    /// Every waiting request fails with `error`.
    func failWaiting(_ error: ClientError) {
        let waiting = shared.withLock { state in defer { state.waiting.removeAll() }; return Array(state.waiting.values) }
        for entry in waiting { entry.continuation.resume(returning: .failure(error)) }
    }

    /// The connection ends for good (once): every waiting request fails, and the owner hears `disconnected`.
    func end(reason: String) {
        let (first, deliver) = shared.withLock { state in
            defer { state.ended = true }
            return (!state.ended, state.deliver)
        }
        failWaiting(.disconnected(reason))
        guard first else { return }
        logger.debug("client I/O ended: \(reason)")
        deliver?(.disconnected(reason: reason))
    }
}

/// The client's connection as its loop thread sees it: the socket, what waits to be sent, liveness,
/// and the reconnection state machine. Loop thread only.
final class ClientConnection {
    private enum Phase {
        /// Serving: requests go out, events come in.
        case connected(Socket)
        /// A new socket said hello again and waits for the welcome until `deadline`.
        case greeting(Socket, deadline: ContinuousClock.Instant, helloSent: Bool)
        /// Lost: the next attempt starts at `next`.
        case pausing(next: ContinuousClock.Instant)
        case ended
    }

    private unowned let io: ClientIO
    private var phase: Phase
    /// Encoded messages not yet taken by the socket (a DEALER refuses them until it is connected).
    private var unsent: [(id: Int?, data: Data)] = []
    private var lastHeard = ContinuousClock.now
    private var lastSent = ContinuousClock.now
    /// The hub answered a ping with `hello_required`: it no longer knows this connection.
    private var forgotten = false
    private var delay: Duration = .zero
    private var attempts = 0
    /// Request ids start at 1: 0 is a reconnection's hello.
    private static let helloID = 0

    init(io: ClientIO, owner: SocketLoopOwner) throws {
        self.io = io
        let socket = try io.makeSocket()
        phase = .connected(socket)
        owner.watch(socket) { [unowned self] socket in readable(socket, owner) }
    }

    func enqueue(id: Int?, _ data: Data) {
        unsent.append((id, data))
        if unsent.count > ClientIO.outboxLimit { unsent.removeFirst(unsent.count - ClientIO.outboxLimit) }
        if case .connected(let socket) = phase { flush(socket) }
    }

    private func flush(_ socket: Socket) {
        while let (_, data) = unsent.first {
            do throws(ZMQError) {
                try socket.send([data], wait: false)
                unsent.removeFirst()
                lastSent = .now
            } catch {
                if error.isWouldBlock { return }   // not connected yet: kept, tried again at the next tick
                io.logger.warning("send to hub failed: \(error)")
                unsent.removeFirst()
            }
        }
    }

    private func readable(_ socket: Socket, _ owner: SocketLoopOwner) {
        switch phase {
        case .connected:
            while let (message, _) = try? socket.receive(wait: false) {
                lastHeard = .now
                receive(message)
            }
        case .greeting:
            // Up to the welcome only: what the hub sends after it is for the connected phase.
            while case .greeting = phase, let (message, _) = try? socket.receive(wait: false) {
                guard message.frames.count == 1, let envelope = try? WireCodec.hubToClient.decode(message.frames[0]),
                      envelope.re == Self.helloID else { continue }
                if let welcome = envelope.message as? Welcome {
                    welcomed(socket, welcome, owner)
                } else if let error = envelope.message as? ErrorReply {
                    retry("hello refused: \(error.code.rawValue): \(error.message)", socket, owner)
                }
            }
            if case .connected = phase { readable(socket, owner) }
        case .pausing, .ended:
            break
        }
    }

    private func receive(_ message: Message) {
        guard message.frames.count == 1 else {
            io.logger.warning("ignoring a \(message.frames.count)-frame message from the hub")
            return
        }
        let envelope: Envelope
        do { envelope = try WireCodec.hubToClient.decode(message.frames[0]) } catch {
            io.logger.warning("ignoring a bad message from the hub: \(error)")
            return
        }
        if let re = envelope.re, let waiting = io.shared.withLock({ $0.waiting.removeValue(forKey: re) }) {
            waiting.continuation.resume(returning: .success(envelope.message))
            return
        }
        if envelope.message is Pong || envelope.message is OK { return }
        // The hub no longer knows this connection (it restarted, or dropped us): nothing we send will work.
        if let error = envelope.message as? ErrorReply, error.code == .helloRequired, io.shared.withLock({ $0.heartbeat != nil }) {
            forgotten = true
            return
        }
        if let event = ClientEvent(envelope.message) { io.shared.withLock { $0.deliver }?(event) }
    }

    /// Timers: sending what waits, heartbeats, request expiry, reconnection. Returns how soon it wants to run again.
    func tick(_ owner: SocketLoopOwner) -> Duration? {
        let now = ContinuousClock.now
        var soon: Duration = .milliseconds(100)
        // A request that timed out before it could be sent is not sent later: its caller has moved on.
        let expired = io.expireWaiting(now: now)
        if !expired.isEmpty { unsent.removeAll { $0.id.map(expired.contains) ?? false } }
        if let next = io.shared.withLock({ $0.waiting.values.map(\.deadline).min() }) { soon = min(soon, next - now) }
        switch phase {
        case .connected(let socket):
            flush(socket)
            if !unsent.isEmpty { soon = min(soon, .milliseconds(5)) }
            if forgotten {
                lost("the hub no longer knows this connection (it restarted or dropped it)", socket, owner)
                return .milliseconds(1)
            }
            if let heartbeat = io.shared.withLock({ $0.heartbeat }) {
                if now - lastHeard > heartbeat.timeout {
                    lost("heartbeat lost: no word from the hub in \(heartbeat.timeout)", socket, owner)
                    return .milliseconds(1)
                }
                if now - lastSent >= heartbeat.interval {
                    try? socket.send([WireCodec.encode(Ping())], wait: false)
                    lastSent = now
                }
                soon = min(soon, heartbeat.interval - (now - lastSent))
            }
        case .greeting(let socket, let deadline, let helloSent):
            if now >= deadline {
                retry("no welcome within \(io.configuration.reconnect?.attemptTimeout ?? .seconds(1))", socket, owner)
            } else if !helloSent {
                let sent = (try? socket.send([WireCodec.encode(io.configuration.hello, id: Self.helloID)], wait: false)) != nil
                phase = .greeting(socket, deadline: deadline, helloSent: sent)
                soon = min(soon, sent ? deadline - now : .milliseconds(5))
            } else {
                soon = min(soon, deadline - now)
            }
        case .pausing(let next):
            if now >= next { attempt(owner) } else { soon = min(soon, next - now) }
        case .ended:
            return nil
        }
        return soon
    }

    // MARK: Reconnecting

    /// The connection is lost: pause, then try a new one (or end, without a reconnection policy).
    private func lost(_ reason: String, _ socket: Socket, _ owner: SocketLoopOwner) {
        drop(socket, owner)
        guard let policy = io.configuration.reconnect else {
            phase = .ended
            io.end(reason: reason)
            io.stopFromLoop()
            return
        }
        let deliver = io.shared.withLock { state in
            state.reconnecting = true
            return state.deliver
        }
        io.failWaiting(.disconnected("connection lost (\(reason)); reconnecting"))
        unsent.removeAll()
        forgotten = false
        io.logger.warning("connection to the hub lost; reconnecting", metadata: ["reason": "\(reason)"])
        deliver?(.connectionLost(reason: reason))
        delay = policy.firstDelay
        attempts = 0
        phase = .pausing(next: .now + delay)
    }

    /// One attempt: a new socket (a new routing id, nothing stale queued), hello, and the welcome.
    private func attempt(_ owner: SocketLoopOwner) {
        attempts += 1
        let timeout = io.configuration.reconnect?.attemptTimeout ?? .seconds(1)
        do throws(ZMQError) {
            let socket = try io.makeSocket()
            owner.watch(socket) { [unowned self] socket in readable(socket, owner) }
            phase = .greeting(socket, deadline: .now + timeout, helloSent: false)
        } catch {
            io.logger.debug("reconnection attempt failed", metadata: ["attempt": "\(attempts)", "why": "\(error)"])
            pauseAgain()
        }
    }

    private func retry(_ why: String, _ socket: Socket, _ owner: SocketLoopOwner) {
        io.logger.debug("reconnection attempt failed", metadata: ["attempt": "\(attempts)", "why": "\(why)"])
        drop(socket, owner)
        pauseAgain()
    }

    private func pauseAgain() {
        delay = min(delay * 2, io.configuration.reconnect?.maximumDelay ?? .seconds(2))
        phase = .pausing(next: .now + delay)
    }

    private func welcomed(_ socket: Socket, _ welcome: Welcome, _ owner: SocketLoopOwner) {
        let deliver = io.shared.withLock { state in
            state.reconnecting = false
            state.heartbeat = (.milliseconds(welcome.heartbeatMs), .milliseconds(welcome.heartbeatTimeoutMs))
            return state.deliver
        }
        phase = .connected(socket)
        lastHeard = .now
        lastSent = .now
        io.logger.notice("reconnected to the hub", metadata: ["attempts": "\(attempts)"])
        deliver?(.reconnected(welcome))
    }

    private func drop(_ socket: Socket, _ owner: SocketLoopOwner) {
        owner.unwatch(socket)
        socket.close()
    }

    /// The loop ends: the socket closes (its linger lets a last `bye` go out).
    func close(_ owner: SocketLoopOwner) {
        switch phase {
        case .connected(let socket), .greeting(let socket, _, _):
            flush(socket)
            drop(socket, owner)
        case .pausing, .ended:
            break
        }
        phase = .ended
    }
}
