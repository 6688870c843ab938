import Foundation
import Logging
import Signaling
import Synchronization
import ZeroMQ

/// The client's I/O thread: owns the DEALER socket; everything else reaches it through `shared`.
final class ClientIO: Sendable {
    private struct Waiting {
        let continuation: CheckedContinuation<Result<any WireMessage, ClientError>, Never>
        let deadline: ContinuousClock.Instant
        let what: String
    }

    private struct Shared {
        /// Encoded messages to send, with the request id of those that wait for a reply.
        var outbox: [(id: Int?, data: Data)] = []
        var waiting: [Int: Waiting] = [:]
        var nextID = 1
        var running = false
        var stopRequested = false
        /// Between a lost connection and the next welcome: requests fail at once.
        var reconnecting = false
        var heartbeat: (interval: Duration, timeout: Duration)?
        var deliver: (@Sendable (ClientEvent) -> Void)?
    }

    /// Requests queued for the thread; more fail with ``ClientError/overloaded``.
    static let outboxLimit = 4096

    private let configuration: ClientConfiguration
    private let logger: Logger
    /// Made by ``start()``, which can fail (no descriptors left) with an error instead of a crash.
    private let wakeupSlot = Mutex<WakeupSignal?>(nil)
    /// Valid once started: only the I/O thread (started after it is set) and senders to a running client use it.
    private var wakeup: WakeupSignal { wakeupSlot.withLock { $0! } }
    private let shared = Mutex(Shared())
    private let finished = DispatchSemaphore(value: 0)
    /// The I/O thread's pthread id, so that ``stop()`` called on it (a handler releasing the client) does not wait for itself.
    private let ioThread = Atomic<UInt>(0)
    /// Set on the I/O thread only.
    private let forgotten = Atomic<Bool>(false)

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
            let signal = try WakeupSignal()
            wakeupSlot.withLock { $0 = $0 ?? signal }
        } catch {
            shared.withLock { $0.running = false }
            throw .transport(error)
        }
        let ready = DispatchSemaphore(value: 0)
        let failure = Mutex<ClientError?>(nil)
        let thread = Thread { [self] in
            ioThread.store(UInt(pthread_self()), ordering: .releasing)
            let socket: Socket
            do throws(ZMQError) {
                socket = try makeSocket()
            } catch {
                failure.withLock { $0 = .transport(error) }
                ready.signal()
                finished.signal()
                return
            }
            ready.signal()
            loop(socket)
            finished.signal()
        }
        thread.name = "ctlive-client"
        thread.start()
        ready.wait()
        if let error = failure.withLock({ $0 }) {
            shared.withLock { $0.running = false }
            throw error
        }
    }

    private func makeSocket() throws(ZMQError) -> Socket {
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

    func stop() {
        let wasRunning = shared.withLock { state in
            let was = state.running && !state.stopRequested
            state.stopRequested = true
            return was
        }
        guard wasRunning else { return }
        wakeup.raise()
        if ioThread.load(ordering: .acquiring) == UInt(pthread_self()) { return }   // the loop ends when this handler returns
        finished.wait()
    }

    func request(_ message: some WireMessage, timeout: Duration) async throws(ClientError) -> any WireMessage {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<any WireMessage, ClientError>, Never>) in
            let deadline = ContinuousClock.now + timeout
            let refusal: ClientError? = shared.withLock { state in
                guard state.running, !state.stopRequested else { return .disconnected("not connected") }
                guard !state.reconnecting else { return .disconnected("reconnecting to the hub") }
                guard state.outbox.count < Self.outboxLimit else { return .overloaded }
                let id = state.nextID
                state.nextID += 1
                state.waiting[id] = Waiting(continuation: continuation, deadline: deadline, what: "to \(type(of: message).type)")
                state.outbox.append((id, WireCodec.encode(message, id: id)))
                return nil
            }
            if let refusal { continuation.resume(returning: .failure(refusal)) } else { wakeup.raise() }
        }
        return try result.get()
    }

    func post(_ message: some WireMessage) throws(ClientError) {
        let refusal: ClientError? = shared.withLock { state in
            guard state.running, !state.stopRequested else { return .disconnected("not connected") }
            guard !state.reconnecting else { return .disconnected("reconnecting to the hub") }
            guard state.outbox.count < Self.outboxLimit else { return .overloaded }
            state.outbox.append((nil, WireCodec.encode(message)))
            return nil
        }
        if let refusal { throw refusal }
        wakeup.raise()
    }

    // MARK: The thread

    /// Serves connections until the client stops: a lost one is replaced when the policy says so.
    private func loop(_ first: Socket) {
        var socket = first
        while let next = serve(socket) { socket = next }
    }

    /// Serves one connection; returns the next one after a reconnection, nil when the client ends.
    private func serve(_ socket: Socket) -> Socket? {
        var poller = Poller()
        do {
            try poller.add(.socket(socket))
            try poller.add(.fileDescriptor(wakeup.fileDescriptor))
        } catch {
            end(reason: "poller: \(error)")
            return nil
        }
        let clock = ContinuousClock()
        var lastHeard = clock.now
        var lastSent = clock.now
        var unsent: [(id: Int?, data: Data)] = []
        while true {
            let (outgoing, stop, heartbeat, nextDeadline) = shared.withLock { state in
                defer { state.outbox.removeAll(keepingCapacity: true) }
                return (state.outbox, state.stopRequested, state.heartbeat, state.waiting.values.map(\.deadline).min())
            }
            if stop {
                end(reason: "closed")
                return nil
            }
            // Until the connection is up a DEALER refuses to queue (EAGAIN): keep those and retry.
            unsent.append(contentsOf: outgoing)
            // Never connected: requests have timed out, keep only the newest to send once the hub is there.
            if unsent.count > Self.outboxLimit { unsent.removeFirst(unsent.count - Self.outboxLimit) }
            while let (_, data) = unsent.first {
                do throws(ZMQError) {
                    try socket.send([data], wait: false)
                    unsent.removeFirst()
                    lastSent = clock.now
                } catch {
                    if !error.isWouldBlock {
                        logger.warning("send to hub failed: \(error)")
                        unsent.removeFirst()
                    }
                    break
                }
            }
            let now = clock.now
            if forgotten.load(ordering: .relaxed) {
                return lost("the hub no longer knows this connection (it restarted or dropped it)")
            }
            if let heartbeat {
                if now - lastHeard > heartbeat.timeout {
                    return lost("heartbeat lost: no word from the hub in \(heartbeat.timeout)")
                }
                if now - lastSent >= heartbeat.interval {
                    try? socket.send([WireCodec.encode(Ping())], wait: false)
                    lastSent = now
                }
            }
            // A request that timed out before it could be sent is not sent later: its caller has moved on.
            let expired = expireWaiting(now: now)
            if !expired.isEmpty { unsent.removeAll { $0.id.map(expired.contains) ?? false } }
            var waitMs = unsent.isEmpty ? 100 : 5
            if let heartbeat { waitMs = min(waitMs, Self.milliseconds(heartbeat.interval - (now - lastSent))) }
            if let nextDeadline { waitMs = min(waitMs, Self.milliseconds(nextDeadline - now) + 1) }
            let ready: [Int]
            do { ready = try poller.poll(timeoutMilliseconds: max(0, waitMs)) } catch {
                end(reason: "poll: \(error)")
                return nil
            }
            if ready.contains(1) { wakeup.clear() }
            if ready.contains(0) {
                while let (message, _) = try? socket.receive(wait: false) {
                    lastHeard = clock.now
                    receive(message)
                }
            }
        }
    }

    // MARK: Reconnecting

    /// The connection is lost: reconnect (returning the new socket) or end (nil).
    private func lost(_ reason: String) -> Socket? {
        guard let policy = configuration.reconnect else {
            end(reason: reason)
            return nil
        }
        let (waiting, deliver) = shared.withLock { state in
            defer {
                state.waiting.removeAll()
                state.outbox.removeAll()
                state.reconnecting = true
            }
            return (Array(state.waiting.values), state.deliver)
        }
        for entry in waiting { entry.continuation.resume(returning: .failure(.disconnected("connection lost (\(reason)); reconnecting"))) }
        logger.warning("connection to the hub lost; reconnecting", metadata: ["reason": "\(reason)"])
        forgotten.store(false, ordering: .relaxed)
        deliver?(.connectionLost(reason: reason))
        var delay = policy.firstDelay
        var attempt = 0
        while true {
            if sleepUnlessStopped(delay) {
                end(reason: "closed")
                return nil
            }
            attempt += 1
            switch helloAgain(timeout: policy.attemptTimeout) {
            case .welcomed(let socket, let welcome):
                shared.withLock { state in
                    state.reconnecting = false
                    state.heartbeat = (.milliseconds(welcome.heartbeatMs), .milliseconds(welcome.heartbeatTimeoutMs))
                }
                logger.notice("reconnected to the hub", metadata: ["attempts": "\(attempt)"])
                deliver?(.reconnected(welcome))
                return socket
            case .stopped:
                end(reason: "closed")
                return nil
            case .failed(let why):
                logger.debug("reconnection attempt failed", metadata: ["attempt": "\(attempt)", "why": "\(why)"])
            }
            delay = min(delay * 2, policy.maximumDelay)
        }
    }

    private enum Attempt {
        case welcomed(Socket, Welcome)
        case failed(String)
        case stopped
    }

    /// One attempt: a new socket (a new routing id, nothing stale queued), hello, and the welcome.
    private func helloAgain(timeout: Duration) -> Attempt {
        let socket: Socket
        var poller = Poller()
        do throws(ZMQError) {
            socket = try makeSocket()
            try poller.add(.socket(socket))
            try poller.add(.fileDescriptor(wakeup.fileDescriptor))
        } catch {
            return .failed("\(error)")
        }
        let hello = WireCodec.encode(configuration.hello, id: 0)   // request ids start at 1: 0 is this hello's
        let deadline = ContinuousClock.now + timeout
        var sent = false
        while ContinuousClock.now < deadline {
            if shared.withLock({ $0.stopRequested }) { return .stopped }
            if !sent { sent = (try? socket.send([hello], wait: false)) != nil }
            let left = Self.milliseconds(deadline - ContinuousClock.now)
            guard let ready = try? poller.poll(timeoutMilliseconds: max(0, min(left, sent ? left : 5))) else { return .failed("poll") }
            if ready.contains(1) { wakeup.clear() }
            // Read up to the welcome only: what the hub sends after it is for the main loop.
            while let (message, _) = try? socket.receive(wait: false) {
                guard message.frames.count == 1, let envelope = try? WireCodec.hubToClient.decode(message.frames[0]), envelope.re == 0 else { continue }
                if let welcome = envelope.message as? Welcome { return .welcomed(socket, welcome) }
                if let error = envelope.message as? ErrorReply { return .failed("hello refused: \(error.code.rawValue): \(error.message)") }
            }
        }
        return .failed("no welcome within \(timeout)")
    }

    /// Waits `duration` unless the client is stopped first; returns whether it was.
    private func sleepUnlessStopped(_ duration: Duration) -> Bool {
        let deadline = ContinuousClock.now + duration
        var descriptor = pollfd(fd: wakeup.fileDescriptor, events: Int16(POLLIN), revents: 0)
        while true {
            if shared.withLock({ $0.stopRequested }) { return true }
            let left = Self.milliseconds(deadline - ContinuousClock.now)
            if left <= 0 { return false }
            if poll(&descriptor, 1, Int32(min(left, 1000))) > 0 { wakeup.clear() }
        }
    }

    private func receive(_ message: Message) {
        guard message.frames.count == 1 else {
            logger.warning("ignoring a \(message.frames.count)-frame message from the hub")
            return
        }
        let envelope: Envelope
        do { envelope = try WireCodec.hubToClient.decode(message.frames[0]) } catch {
            logger.warning("ignoring a bad message from the hub: \(error)")
            return
        }
        if let re = envelope.re, let waiting = shared.withLock({ $0.waiting.removeValue(forKey: re) }) {
            waiting.continuation.resume(returning: .success(envelope.message))
            return
        }
        if envelope.message is Pong || envelope.message is OK { return }
        // The hub no longer knows this connection (it restarted, or dropped us): nothing we send will work.
        if let error = envelope.message as? ErrorReply, error.code == .helloRequired, shared.withLock({ $0.heartbeat != nil }) {
            forgotten.store(true, ordering: .relaxed)
            return
        }
        if let event = ClientEvent(envelope.message) { shared.withLock { $0.deliver }?(event) }
    }

    /// Fails the requests whose time is up; returns their ids.
    private func expireWaiting(now: ContinuousClock.Instant) -> Set<Int> {
        let expired = shared.withLock { state in
            let ids = state.waiting.filter { $0.value.deadline <= now }.map(\.key)
            return ids.compactMap { id in state.waiting.removeValue(forKey: id).map { (id, $0) } }
        }
        for (_, waiting) in expired { waiting.continuation.resume(returning: .failure(.timedOut(waiting.what))) }
        return Set(expired.map(\.0))
    }

    /// The thread ends: every waiting request fails, and the owner hears `disconnected`.
    private func end(reason: String) {
        let (waiting, deliver) = shared.withLock { state in
            defer {
                state.waiting.removeAll()
                state.outbox.removeAll()
                state.stopRequested = true
            }
            return (Array(state.waiting.values), state.deliver)
        }
        for entry in waiting { entry.continuation.resume(returning: .failure(.disconnected(reason))) }
        logger.debug("client I/O ended: \(reason)")
        deliver?(.disconnected(reason: reason))
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }
}
