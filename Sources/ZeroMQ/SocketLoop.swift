import Foundation
import Synchronization

extension Context {
    private static let process = Mutex<Context?>(nil)

    /// The process's one context (one libzmq I/O thread for all its sockets), made on first use.
    public static func shared() throws(ZMQError) -> Context {
        try process.withLock { (slot: inout Context?) throws(ZMQError) -> Context in
            if let context = slot { return context }
            let context = try Context()
            slot = context
            return context
        }
    }
}

/// The loop thread's side of a ``SocketLoop``: which sockets it waits on. Used on that thread only.
public final class SocketLoopOwner {
    fileprivate var watched: [(socket: Socket, onReadable: (Socket) -> Void)] = []
    fileprivate var changed = true
    public let context: Context

    fileprivate init(context: Context) { self.context = context }

    /// Calls `onReadable` on the loop thread whenever `socket` may have input (it should read until none is left).
    public func watch(_ socket: Socket, onReadable: @escaping (Socket) -> Void) {
        watched.append((socket, onReadable))
        changed = true
    }

    /// Stops waiting on `socket` (it is not closed: its owner closes it).
    public func unwatch(_ socket: Socket) {
        watched.removeAll { $0.socket === socket }
        changed = true
    }
}

/// One thread that owns ZeroMQ sockets: it waits on them and on a wake-up signal, runs the jobs other
/// threads hand it through a bounded inbox, and calls a tick at a fixed interval.
///
/// `State` is made on the loop thread and never leaves it, so it need not be `Sendable`: every job
/// receives it. A ZeroMQ socket belongs to one thread; this type is how the code keeps that rule.
public final class SocketLoop<State: AnyObject>: Sendable {
    public typealias Job = @Sendable (State, SocketLoopOwner) -> Void

    private struct Inbox {
        var jobs: [Job] = []
        var stopping = false
        var running = false
    }

    public let name: String
    private let inboxLimit: Int
    private let tickInterval: Duration
    private let inbox = Mutex(Inbox())
    private let wakeup: WakeupSignal
    private let finished = DispatchSemaphore(value: 0)
    private let loopThread = Atomic<UInt>(0)

    /// - Parameters:
    ///   - inboxLimit: jobs waiting at most; ``submit(_:)`` refuses more (the caller decides what is lost).
    ///   - tickInterval: how often `tick` runs, at least.
    public init(name: String, inboxLimit: Int = 4096, tickInterval: Duration = .milliseconds(100)) throws(ZMQError) {
        self.name = name
        self.inboxLimit = inboxLimit
        self.tickInterval = tickInterval
        wakeup = try WakeupSignal()
    }

    /// Starts the thread: `makeState` runs on it first (a failure there is thrown here), then the loop.
    /// `tick` runs every `tickInterval`, or sooner when it last said how soon it wants to run again (its
    /// timers are its own: the loop only sleeps that long); `tearDown` runs once when the loop stops.
    public func start(context: Context, makeState: @escaping @Sendable (SocketLoopOwner) throws -> State,
                      tick: @escaping @Sendable (State, SocketLoopOwner) -> Duration? = { _, _ in nil },
                      tearDown: @escaping @Sendable (State, SocketLoopOwner) -> Void = { _, _ in }) throws {
        let failure = Mutex<(any Error)?>(nil)
        let ready = DispatchSemaphore(value: 0)
        inbox.withLock { $0.running = true }
        let thread = Thread { [self] in
            loopThread.store(UInt(pthread_self()), ordering: .releasing)
            let owner = SocketLoopOwner(context: context)
            let state: State
            do { state = try makeState(owner) } catch {
                failure.withLock { $0 = error }
                ready.signal()
                finished.signal()
                return
            }
            ready.signal()
            run(state, owner, tick: tick)
            tearDown(state, owner)
            finished.signal()
        }
        thread.name = name
        thread.start()
        ready.wait()
        if let error = failure.withLock({ $0 }) {
            inbox.withLock { $0.running = false }
            throw error
        }
    }

    /// Hands `job` to the loop thread. False when the inbox is full or the loop is stopping: the job will not run.
    ///
    /// - Parameter evenIfFull: for the few jobs that must not be lost (releasing what a closed peer held),
    ///   which their callers bound themselves.
    @discardableResult
    public func submit(evenIfFull: Bool = false, _ job: @escaping Job) -> Bool {
        let accepted = inbox.withLock { inbox in
            guard inbox.running, !inbox.stopping, evenIfFull || inbox.jobs.count < inboxLimit else { return false }
            inbox.jobs.append(job)
            return true
        }
        if accepted { wakeup.raise() }
        return accepted
    }

    /// Stops the loop and waits for it (unless called on the loop thread itself, from a job).
    public func stop() {
        let wasRunning = inbox.withLock { inbox in
            defer { inbox.stopping = true }
            return inbox.running && !inbox.stopping
        }
        guard wasRunning else { return }
        wakeup.raise()
        if loopThread.load(ordering: .acquiring) == UInt(pthread_self()) { return }
        finished.wait()
    }

    private func run(_ state: State, _ owner: SocketLoopOwner, tick: (State, SocketLoopOwner) -> Duration?) {
        var poller = Poller()
        var handlers: [(Socket) -> Void] = []
        var sockets: [Socket] = []
        var nextTick = ContinuousClock.now + tickInterval
        while true {
            if owner.changed {
                poller = Poller()
                handlers = []
                sockets = []
                _ = try? poller.add(.fileDescriptor(wakeup.fileDescriptor))
                for (socket, handler) in owner.watched where !socket.isClosed {
                    if (try? poller.add(.socket(socket))) != nil { sockets.append(socket); handlers.append(handler) }
                }
                owner.changed = false
            }
            let wait = max(0, Int(((nextTick - ContinuousClock.now) / .milliseconds(1)).rounded(.up)))
            let ready: [Int]
            do { ready = try poller.poll(timeoutMilliseconds: wait) } catch { ready = [] }
            for index in ready where index > 0 && !sockets[index - 1].isClosed {
                handlers[index - 1](sockets[index - 1])
            }
            if ready.contains(0) { wakeup.clear() }
            let (jobs, stopping) = inbox.withLock { inbox in
                defer { inbox.jobs.removeAll(keepingCapacity: true) }
                return (inbox.jobs, inbox.stopping)
            }
            for job in jobs { job(state, owner) }
            if stopping {
                inbox.withLock { $0.running = false }
                return
            }
            if ContinuousClock.now >= nextTick {
                let soon = tick(state, owner).map { max(.milliseconds(1), min($0, tickInterval)) } ?? tickInterval
                nextTick = ContinuousClock.now + soon
            }
        }
    }
}
