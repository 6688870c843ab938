import CChildProcess
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How a child process ended.
public enum ExitStatus: Sendable, Equatable, CustomStringConvertible {
    /// It called `exit` (or returned from `main`) with this code.
    case exited(Int32)
    /// A signal ended it (SIGSEGV, SIGKILL, ...).
    case signalled(Int32)

    init(waitStatus status: Int32) {
        self = ctlive_signalled(status) != 0 ? .signalled(ctlive_term_signal(status)) : .exited(ctlive_exit_code(status))
    }

    public var description: String {
        switch self {
        case .exited(let code): return "exited with status \(code)"
        case .signalled(let signal):
            let names: [Int32: String] = [
                SIGABRT: "SIGABRT", SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV", SIGILL: "SIGILL", SIGBUS: "SIGBUS",
                SIGFPE: "SIGFPE", SIGTERM: "SIGTERM", SIGTRAP: "SIGTRAP",
            ]
            let text = strsignal(signal).map { String(cString: $0) } ?? "signal"
            return "killed by signal \(signal) (\(names[signal].map { "\($0), " } ?? "")\(text))"
        }
    }
}

/// A system call that failed: the operation and its errno.
public struct ChildProcessError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let code: Int32
    public init(_ operation: String, code: Int32) {
        self.operation = operation
        self.code = code
    }
    public var description: String { "\(operation): \(String(cString: strerror(code))) (errno \(code))" }
}

/// A child process of this one.
///
/// Every child is started, and reaped the moment it ends, by one thread that lives as long as the
/// process (see ``ChildSupervisor``): no zombie is left behind, and a child that asks the kernel to
/// die with its parent (``dieWithParent()``) lives exactly as long as this process, whatever thread
/// asked for it.
///
/// Dropping the last reference does not stop the child: call ``kill(_:)`` for that.
public final class ChildProcess: Sendable {
    public let pid: pid_t
    private let state = Mutex<(status: ExitStatus?, handlers: [@Sendable (ExitStatus) -> Void])>((nil, []))
    private let ended = DispatchSemaphore(value: 0)

    init(pid: pid_t) { self.pid = pid }

    /// Starts `executable` with `arguments` (without argv[0]) and `environment` (`NAME=value`).
    /// `descriptors` maps descriptors of this process to the numbers they get in the child
    /// (`[pipeEnd: 0]` makes it the child's stdin); every other descriptor this process opened with
    /// `O_CLOEXEC` stays out of the child. The child learns this process's pid in `CTLIVE_PARENT_PID`.
    public static func spawn(
        executable: String, arguments: [String], environment: [String], descriptors: [Int32: Int32] = [:]
    ) throws(ChildProcessError) -> ChildProcess {
        try ChildSupervisor.shared.spawn(
            executable: executable, arguments: arguments,
            environment: environment.filter { !$0.hasPrefix("CTLIVE_PARENT_PID=") } + ["CTLIVE_PARENT_PID=\(getpid())"],
            descriptors: descriptors)
    }

    /// How it ended, or nil while it runs.
    public var exitStatus: ExitStatus? { state.withLock { $0.status } }

    /// Sends `signal` (SIGKILL by default). Harmless once the child has ended and been reaped.
    public func kill(_ signal: Int32 = SIGKILL) {
        // The pid is ours until the supervisor reaps it; after that it may be reused.
        state.withLock { if $0.status == nil { _ = Glibc.kill(pid, signal) } }
    }

    /// Waits until the child ends or `timeout` passes; returns how it ended, or nil on timeout.
    @discardableResult
    public func wait(timeout: Duration? = nil) -> ExitStatus? {
        if let status = exitStatus { return status }
        let result: DispatchTimeoutResult
        if let timeout {
            let nanos = max(0, timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
            result = ended.wait(timeout: .now() + .nanoseconds(Int(min(nanos, Int64(Int.max)))))
        } else {
            ended.wait()
            result = .success
        }
        guard result == .success else { return nil }
        ended.signal()  // pass it on to the next waiter
        return exitStatus
    }

    /// Calls `handler` once, on the supervisor's thread, when the child ends (at once if it has). Keep it short.
    public func onExit(_ handler: @escaping @Sendable (ExitStatus) -> Void) {
        let already: ExitStatus? = state.withLock { current in
            if let status = current.status { return status }
            current.handlers.append(handler)
            return nil
        }
        if let already { handler(already) }
    }

    /// On the supervisor's thread: reaps the child if it has ended (under the lock that ``kill(_:)``
    /// takes, so that a signal never reaches a reused pid) and then runs the exit handlers.
    /// Returns whether it had ended.
    func reapIfEnded() -> Bool {
        let reaped = state.withLock { current -> (ExitStatus, [@Sendable (ExitStatus) -> Void])? in
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            guard result == pid || (result < 0 && errno == ECHILD) else { return nil }
            let ended = result == pid ? ExitStatus(waitStatus: status) : .exited(-1)
            current.status = ended
            defer { current.handlers = [] }
            return (ended, current.handlers)
        }
        guard let (status, handlers) = reaped else { return false }
        ended.signal()
        for handler in handlers { handler(status) }
        return true
    }

    /// In a child started by ``spawn(executable:arguments:environment:descriptors:)``: asks the
    /// kernel to send `signal` (SIGKILL by default) to this process when its parent ends. Returns false
    /// when the parent has already gone (the caller should exit), true otherwise (also when there is no
    /// `CTLIVE_PARENT_PID`).
    public static func dieWithParent(signal: Int32 = SIGKILL) -> Bool {
        guard let text = getenv("CTLIVE_PARENT_PID").map({ String(cString: $0) }), let parent = pid_t(text) else { return true }
        return ctlive_die_with_parent(parent, signal) == 0
    }

    /// A pipe whose ends close on exec: (read, write).
    public static func pipe() throws(ChildProcessError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard ctlive_pipe_cloexec(&fds) == 0 else { throw ChildProcessError("pipe", code: errno) }
        return (fds[0], fds[1])
    }
}

/// The running executable's path (`/proc/self/exe`, symbolic links resolved), for starting it again.
public func currentExecutablePath() -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard n > 0 else { return CommandLine.arguments.first }
    return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
