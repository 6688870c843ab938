import CPolicyPlugin
import Digest
import Dispatch
import Foundation
import Logging
import PolicyKit

#if canImport(Glibc)
import Glibc
#endif

/// `isolation: process`: plugins run in a worker child process (`ctlive-policy-worker`) that speaks
/// JSON lines over its stdin/stdout (protocol in `docs/PLUGINS.md`).
///
/// All access to the worker happens on one serial queue. A crash (EOF on the pipe) or a reply
/// missing past the deadline (the worker is killed) fails that call; the worker is then restarted
/// in the background, at once after the first failure and with doubling backoff (100 ms ... 5 s)
/// after consecutive ones. A successful call resets the backoff.
final class WorkerRunner: StepRunner, @unchecked Sendable {
    private(set) var steps: [StepInfo]
    private let specs: [StepSpec]
    private let directories: [String]
    private let executable: String
    private let logger: Logger
    private let queue = DispatchQueue(label: "ctlive.policy.worker")
    private static let setupTimeout: UInt64 = 10_000_000_000

    // Touched only on `queue`.
    private var worker: WorkerProcess?
    private var stepErrors: [Int: String] = [:]
    private var consecutiveFailures = 0
    private var notBefore: UInt64 = 0
    private var sequence: UInt64 = 0
    private var restartScheduled = false

    init(specs: [StepSpec], directories: [String], executable: String, logger: Logger) throws {
        self.specs = specs
        self.directories = directories
        self.executable = executable
        self.logger = logger
        steps = specs.map { StepInfo(plugin: $0.plugin) }
        // A dead worker must not kill the host when we write to its pipe.
        signal(SIGPIPE, SIG_IGN)
        let errors = try queue.sync { try startWorker() }
        if !errors.isEmpty { throw errors.count == 1 ? errors[0] : PolicyError.several(errors) }
    }

    /// Starts a worker and sets up every step; returns the steps that failed. Throws when the
    /// worker itself cannot be started. On `queue`.
    private func startWorker() throws -> [PolicyError] {
        let process: WorkerProcess
        // The Swift backtracer would hold a crashing worker for a while: the kernel's signal is enough.
        var environment = ProcessInfo.processInfo.environment
        if environment["SWIFT_BACKTRACE"] == nil { environment["SWIFT_BACKTRACE"] = "enable=no" }
        do {
            process = try WorkerProcess(
                executable: executable, arguments: [], environment: environment.map { "\($0.key)=\($0.value)" })
        } catch {
            throw PolicyError.worker("cannot start \(executable): \(error)")
        }
        let setup: [String: Any] = [
            "op": "setup", "directories": directories,
            "steps": specs.map { ["label": $0.label, "plugin": $0.plugin, "config": $0.configJSON] },
        ]
        do { try process.send(try JSONSerialization.data(withJSONObject: setup)) } catch {
            throw PolicyError.worker("cannot send the setup: \(error)")
        }
        guard case .line(let line) = process.readLine(deadline: monotonicNow() + Self.setupTimeout) else {
            let how = process.kill()
            throw PolicyError.worker("no setup reply from \(executable) (worker \(how))")
        }
        guard let reply = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
            let results = reply["steps"] as? [[String: Any]], results.count == specs.count
        else { throw PolicyError.worker("malformed setup reply: \(String(decoding: line, as: UTF8.self))") }
        var errors: [PolicyError] = []
        stepErrors = [:]
        for (index, result) in results.enumerated() {
            if result["ok"] as? Bool == true {
                let path = result["path"] as? String
                steps[index] = StepInfo(
                    plugin: specs[index].plugin, id: result["id"] as? String, version: result["version"] as? String,
                    path: path, sha256: path.flatMap { try? SHA256.hex(ofFileAt: $0) })
            } else {
                let message = result["error"] as? String ?? "unknown error"
                stepErrors[index] = message
                errors.append(PolicyError.worker("\(specs[index].label): \(message)"))
            }
        }
        worker = process
        logger.info("policy worker started", metadata: ["pid": "\(process.pid)", "steps": "\(specs.count)"])
        return errors
    }

    func perform<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: body()) }
        }
    }

    func consult(_ index: Int, request: String, budget: UInt64) -> (StepOutcome, startup: UInt64) {
        dispatchPrecondition(condition: .onQueue(queue))
        var startup: UInt64 = 0
        if worker == nil {
            let now = monotonicNow()
            if now < notBefore {
                return (.failure(.unavailable, "policy worker is restarting (backoff, next start in \(formatMicros(Double(notBefore - now) / 1000)))"), 0)
            }
            do { _ = try startWorker() } catch {
                workerFailed("\(error)")
                return (.failure(.unavailable, "\(error)"), monotonicNow() - now)
            }
            startup = monotonicNow() - now
        }
        return (call(index, request: request, deadline: monotonicNow() + budget), startup)
    }

    private func call(_ index: Int, request: String, deadline: UInt64) -> StepOutcome {
        guard let worker else { return .failure(.unavailable, "policy worker is not running") }
        if let message = stepErrors[index] { return .failure(.error, message) }

        sequence += 1
        let message: [String: Any] = ["op": "decide", "seq": sequence, "step": index, "request": request]
        do { try worker.send(try JSONSerialization.data(withJSONObject: message)) } catch {
            let how = worker.reap()
            workerFailed("worker \(how)")
            return .failure(.crash, "policy worker \(how) (\(error))")
        }
        while true {
            switch worker.readLine(deadline: deadline) {
            case .line(let line):
                guard let reply = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                    worker.kill()
                    workerFailed("malformed reply")
                    return .failure(.error, "malformed reply from the policy worker: \(String(decoding: line.prefix(200), as: UTF8.self))")
                }
                guard (reply["seq"] as? NSNumber)?.uint64Value == sequence else { continue }
                consecutiveFailures = 0
                if reply["ok"] as? Bool == true, let verdict = (reply["verdict"] as? String).flatMap(VerdictKind.init(rawValue:)) {
                    return .verdict(Verdict(verdict, reply["reason"] as? String ?? ""))
                }
                return .failure(.error, reply["error"] as? String ?? "the worker reported an error")
            case .timeout:
                let how = worker.kill()
                workerFailed("hung past the deadline")
                return .failure(.timeout, "no answer within the decision deadline; policy worker \(how)")
            case .endOfFile:
                let how = worker.reap()
                workerFailed("worker \(how)")
                return .failure(.crash, "policy worker \(how)")
            }
        }
    }

    /// Forgets the dead worker and schedules its restart with backoff. On `queue`.
    private func workerFailed(_ why: String) {
        worker = nil
        consecutiveFailures += 1
        let delayMs = consecutiveFailures <= 1 ? 0 : min(100 << min(consecutiveFailures - 2, 10), 5_000)
        notBefore = monotonicNow() + UInt64(delayMs) * 1_000_000
        logger.warning("policy worker failed", metadata: ["why": "\(why)", "restartInMs": "\(delayMs)"])
        guard !restartScheduled else { return }
        restartScheduled = true
        queue.asyncAfter(deadline: .now() + .milliseconds(delayMs)) { [weak self] in
            guard let self else { return }
            self.restartScheduled = false
            guard self.worker == nil else { return }
            do {
                _ = try self.startWorker()
            } catch {
                self.workerFailed("restart failed: \(error)")
            }
        }
    }
}

/// The worker side of process isolation: `ctlive-policy-worker` calls ``PolicyWorker/run()``.
public enum PolicyWorker {
    /// Serves JSON-line requests on stdin until it closes; replies on stdout. Plugins' own writes to
    /// stdout are redirected to stderr so they cannot corrupt the protocol.
    public static func run() -> Never {
        _ = ctlive_policy_die_with_parent()
        let out = dup(1)
        dup2(2, 1)
        var logger = Logger(label: "ctlive.policy.worker")
        logger.logLevel = .warning
        var instances: [Int: PluginInstance] = [:]
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)

        func reply(_ object: [String: Any]) {
            guard var data = try? JSONSerialization.data(withJSONObject: object) else { return }
            data.append(0x0a)
            data.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = write(out, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 { if errno == EINTR { continue }; exit(3) }
                    offset += n
                }
            }
        }

        func handle(_ line: [UInt8]) {
            guard let message = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                reply(["ok": false, "error": "malformed request"])
                return
            }
            switch message["op"] as? String {
            case "setup":
                let loader = PluginLoader(directories: message["directories"] as? [String] ?? [], logger: logger)
                var results: [[String: Any]] = []
                instances = [:]
                for (index, step) in (message["steps"] as? [[String: Any]] ?? []).enumerated() {
                    do {
                        let library = try loader.resolve(step["plugin"] as? String ?? "")
                        instances[index] = try library.makeInstance(configurationJSON: step["config"] as? String ?? "{}")
                        results.append([
                            "ok": true, "path": library.path, "id": library.metadata.id, "version": library.metadata.version,
                        ])
                    } catch {
                        results.append(["ok": false, "error": "\(error)"])
                    }
                }
                reply(["op": "setup", "steps": results])
            case "decide":
                let seq = message["seq"] ?? 0
                guard let step = message["step"] as? Int, let instance = instances[step],
                    let request = message["request"] as? String
                else {
                    reply(["seq": seq, "ok": false, "error": "unknown step or missing request"])
                    return
                }
                switch instance.decide(requestJSON: request) {
                case .verdict(let verdict): reply(["seq": seq, "ok": true, "verdict": verdict.kind.rawValue, "reason": verdict.reason])
                case .error(let message): reply(["seq": seq, "ok": false, "error": message])
                }
            default:
                reply(["ok": false, "error": "unknown op"])
            }
        }

        while true {
            while let newline = buffer.firstIndex(of: 0x0a) {
                let line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                handle(line)
            }
            let n = read(0, &chunk, chunk.count)
            if n > 0 { buffer.append(contentsOf: chunk[..<n]) } else if n == 0 { exit(0) } else if errno != EINTR { exit(2) }
        }
    }
}
