import CPolicyPlugin
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A child process with its stdin and stdout connected to pipes. Owns the pid and both pipe ends:
/// `deinit` closes the pipes, kills the child (SIGKILL) and reaps it.
final class WorkerProcess {
    let pid: pid_t
    private var toChild: Int32
    private var fromChild: Int32
    private var buffer: [UInt8] = []
    private var reaped = false

    static let maximumLineLength = 8 << 20

    enum ReadResult {
        case line([UInt8])
        case timeout
        case endOfFile
    }

    /// Starts `executable` with `arguments` and `environment` (`NAME=value`); stderr is inherited.
    init(executable: String, arguments: [String], environment: [String]) throws {
        var input: [Int32] = [-1, -1]
        var output: [Int32] = [-1, -1]
        guard ctlive_policy_pipe_cloexec(&input) == 0 else { throw POSIXErrorWithContext(operation: "pipe", code: errno) }
        guard ctlive_policy_pipe_cloexec(&output) == 0 else {
            let code = errno
            close(input[0]); close(input[1])
            throw POSIXErrorWithContext(operation: "pipe", code: code)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input[0], 0)
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        close(input[0])
        close(output[1])
        guard status == 0 else {
            close(input[1]); close(output[0])
            throw POSIXErrorWithContext(operation: "posix_spawn \(executable)", code: status)
        }
        self.pid = pid
        toChild = input[1]
        fromChild = output[0]
    }

    deinit {
        close(toChild)
        close(fromChild)
        if !reaped {
            Glibc.kill(pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
    }

    /// Writes one line (a newline is appended).
    func send(_ line: [UInt8]) throws {
        var data = line
        data.append(0x0a)
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(toChild, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw POSIXErrorWithContext(operation: "write to policy worker", code: errno)
                }
                offset += n
            }
        }
    }

    /// Reads the next line, waiting until `deadline` (`DispatchTime` nanoseconds).
    func readLine(deadline: UInt64) -> ReadResult {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let newline = buffer.firstIndex(of: 0x0a) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                return .line(line)
            }
            // A line longer than this is not the protocol: treat the worker as broken.
            if buffer.count > Self.maximumLineLength { return .endOfFile }
            let now = monotonicNow()
            if now >= deadline { return .timeout }
            let waitMs = Int32(min((deadline - now + 999_999) / 1_000_000, 60_000))
            var pfd = pollfd(fd: fromChild, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, waitMs)
            if ready < 0 {
                if errno == EINTR { continue }
                return .endOfFile
            }
            if ready == 0 { continue }
            let n = read(fromChild, &chunk, chunk.count)
            if n > 0 {
                buffer.append(contentsOf: chunk[..<n])
            } else if n == 0 {
                return .endOfFile
            } else if errno != EINTR && errno != EAGAIN {
                return .endOfFile
            }
        }
    }

    /// Kills the child (SIGKILL) and reaps it; returns how it ended.
    @discardableResult
    func kill() -> String {
        Glibc.kill(pid, SIGKILL)
        return reap()
    }

    /// Waits for the child to end (killing it if it is still alive after 500 ms) and says how it ended.
    func reap() -> String {
        guard !reaped else { return "already reaped" }
        var status: Int32 = 0
        var waited = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { reaped = true; return "could not be reaped (\(String(cString: strerror(errno))))" }
            if waited >= 500 {
                Glibc.kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                break
            }
            usleep(1000)
            waited += 1
        }
        reaped = true
        return Self.describe(status: status)
    }

    static func describe(status: Int32) -> String {
        let signal = status & 0x7f
        if signal == 0 { return "exited with status \((status >> 8) & 0xff)" }
        let name = strsignal(signal).map { String(cString: $0) } ?? "signal"
        let short = [6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV", 4: "SIGILL", 7: "SIGBUS", 8: "SIGFPE", 15: "SIGTERM"][Int(signal)]
        return "killed by signal \(signal) (\(short.map { "\($0), " } ?? "")\(name))"
    }
}
