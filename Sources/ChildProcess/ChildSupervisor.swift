import CChildProcess
import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The thread that starts and reaps every ``ChildProcess``.
///
/// Linux ties `PR_SET_PDEATHSIG` to the *thread* that created a child, not to the process: a child
/// spawned from a pool thread is killed when the pool retires that thread. Spawning from one thread
/// that never ends ties children to the process. The same thread waits on a pidfd per child and
/// reaps each the moment it exits, so none stays a zombie until someone happens to look.
final class ChildSupervisor: @unchecked Sendable {
    static let shared = ChildSupervisor()

    private final class Request: @unchecked Sendable {
        let executable: String
        let arguments: [String]
        let environment: [String]
        let descriptors: [Int32: Int32]
        var result: Result<ChildProcess, ChildProcessError>?
        let done = DispatchSemaphore(value: 0)
        init(executable: String, arguments: [String], environment: [String], descriptors: [Int32: Int32]) {
            self.executable = executable
            self.arguments = arguments
            self.environment = environment
            self.descriptors = descriptors
        }
    }

    private let wakeup: Int32
    private let requests = Mutex<[Request]>([])
    /// Touched only on the supervisor's thread: each running child and its pidfd (-1 when pidfds are unavailable).
    private var children: [(pidfd: Int32, child: ChildProcess)] = []

    private init() {
        // A parent writes to its children's pipes: one that died must cost a failed write, not this process.
        signal(SIGPIPE, SIG_IGN)
        wakeup = ctlive_eventfd()
        precondition(wakeup >= 0, "ChildSupervisor: eventfd failed (errno \(errno))")
        let thread = Thread { [self] in run() }
        thread.name = "ctlive-children"
        thread.start()
    }

    func spawn(executable: String, arguments: [String], environment: [String], descriptors: [Int32: Int32]) throws(ChildProcessError)
        -> ChildProcess
    {
        let request = Request(executable: executable, arguments: arguments, environment: environment, descriptors: descriptors)
        requests.withLock { $0.append(request) }
        var one: UInt64 = 1
        _ = write(wakeup, &one, 8)
        request.done.wait()
        return try request.result!.get()
    }

    private func run() {
        while true {
            var fds = [pollfd(fd: wakeup, events: Int16(POLLIN), revents: 0)]
            fds += children.map { pollfd(fd: $0.pidfd, events: Int16(POLLIN), revents: 0) }
            // Without pidfds, look for ended children every 50 ms.
            let timeout: Int32 = children.contains { $0.pidfd < 0 } ? 50 : -1
            let ready = poll(&fds, nfds_t(fds.count), timeout)
            if ready < 0 && errno != EINTR { usleep(10_000) }
            if fds[0].revents != 0 {
                var count: UInt64 = 0
                _ = read(wakeup, &count, 8)
                for request in requests.withLock({ pending in defer { pending = [] }; return pending }) {
                    request.result = start(request)
                    request.done.signal()
                }
            }
            reapEnded()
        }
    }

    private func start(_ request: Request) -> Result<ChildProcess, ChildProcessError> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (source, target) in request.descriptors.sorted(by: { $0.value < $1.value }) {
            posix_spawn_file_actions_adddup2(&actions, source, target)
        }
        let argv: [UnsafeMutablePointer<CChar>?] = ([request.executable] + request.arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = request.environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, request.executable, &actions, nil, argv, envp)
        guard status == 0 else { return .failure(ChildProcessError("posix_spawn \(request.executable)", code: status)) }
        let child = ChildProcess(pid: pid)
        children.append((ctlive_pidfd_open(pid), child))
        return .success(child)
    }

    private func reapEnded() {
        children.removeAll { pidfd, child in
            guard child.reapIfEnded() else { return false }
            if pidfd >= 0 { close(pidfd) }
            return true
        }
    }
}
