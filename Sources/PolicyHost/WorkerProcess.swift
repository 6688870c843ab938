import CChildProcess
import ChildProcess
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The policy worker: a ``ChildProcess`` with its stdin and stdout connected to pipes. Owns both
/// pipe ends: `deinit` closes them and kills the child (the child supervisor reaps it).
final class WorkerProcess {
    let child: ChildProcess
    var pid: pid_t { child.pid }
    private var toChild: Int32
    private var fromChild: Int32
    private var buffer: [UInt8] = []

    /// A reply line longer than this is not the protocol: the worker is treated as broken and killed
    /// at once (a plugin answering with megabytes must not hold the decision past its deadline).
    static let maximumLineLength = 256 << 10

    enum ReadResult {
        case line([UInt8])
        case timeout
        case endOfFile
        /// The worker wrote a line longer than ``maximumLineLength``.
        case overlong
    }

    /// Starts `executable` with `arguments` and `environment` (`NAME=value`); stderr is inherited.
    init(executable: String, arguments: [String], environment: [String]) throws {
        var input: [Int32] = [-1, -1]
        var output: [Int32] = [-1, -1]
        guard ctlive_pipe_cloexec(&input) == 0 else { throw ChildProcessError("pipe", code: errno) }
        guard ctlive_pipe_cloexec(&output) == 0 else {
            let code = errno
            close(input[0]); close(input[1])
            throw ChildProcessError("pipe", code: code)
        }
        defer {
            close(input[0])
            close(output[1])
        }
        do {
            child = try ChildProcess.spawn(
                executable: executable, arguments: arguments, environment: environment, descriptors: [input[0]: 0, output[1]: 1])
        } catch {
            close(input[1]); close(output[0])
            throw error
        }
        toChild = input[1]
        fromChild = output[0]
    }

    deinit {
        close(toChild)
        close(fromChild)
        child.kill()
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
                    throw ChildProcessError("write to policy worker", code: errno)
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
            if buffer.count > Self.maximumLineLength { return .overlong }
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

    /// Kills the child (SIGKILL) and waits until it is reaped; returns how it ended.
    @discardableResult
    func kill() -> String {
        child.kill()
        return child.wait(timeout: .seconds(5))?.description ?? "could not be reaped"
    }

    /// Waits for the child to end (killing it if it is still alive after 200 ms) and says how it ended.
    func reap() -> String {
        if let status = child.wait(timeout: .milliseconds(200)) { return status.description }
        return kill()
    }
}
