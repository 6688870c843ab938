import ChildProcess
import Digest
import Dispatch
import Foundation
import Logging
import PolicyKit

#if canImport(Glibc)
import Glibc
#endif

/// `isolation: process`: plugins run in a worker child process (`ctlive policy-worker`) that speaks
/// JSON lines over its stdin/stdout (protocol in `docs/PLUGINS.md`).
///
/// All access to the worker happens on one serial queue. A crash (EOF on the pipe) or a reply
/// missing past the deadline (the worker is killed) fails that call; the worker is then restarted
/// in the background, at once after the first failure and with doubling backoff (100 ms ... 5 s
/// by default) after consecutive ones. A successful call resets the backoff. A worker that dies
/// between calls is noticed when it dies (the child supervisor reaps it) and restarted the same way.
final class WorkerRunner: StepRunner, @unchecked Sendable {
    private(set) var steps: [StepInfo]
    private let specs: [StepSpec]
    private let directories: [String]
    private let command: [String]
    private let logger: Logger
    private let backoffMs: Int
    private let queue = DispatchQueue(label: "ctlive.policy.worker")
    private static let setupTimeout: UInt64 = 3_000_000_000  // loading and creating every plugin

    // Touched only on `queue`.
    private var worker: WorkerProcess?
    private var consecutiveFailures = 0
    private var notBefore: UInt64 = 0
    private var sequence: UInt64 = 0
    private var restartScheduled = false

    /// `command`: the worker's executable and its arguments.
    init(specs: [StepSpec], directories: [String], command: [String], backoffMs: Int, logger: Logger) throws {
        self.backoffMs = max(1, backoffMs)
        self.specs = specs
        self.directories = directories
        self.command = command
        self.logger = logger
        steps = specs.map { StepInfo(plugin: $0.plugin) }
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
                executable: command[0], arguments: Array(command.dropFirst()), environment: environment.map { "\($0.key)=\($0.value)" })
        } catch {
            throw PolicyError.worker("cannot start \(command.joined(separator: " ")): \(error)")
        }
        // A worker that dies between calls (killed, out of memory) is replaced before the next request needs it.
        let pid = process.pid
        process.child.onExit { [weak self] status in
            guard let runner = self else { return }
            runner.queue.async {
                guard runner.worker?.pid == pid else { return }
                runner.workerFailed("worker \(status) while idle")
            }
        }
        let setup = WorkerMessage.Setup(directories: directories, steps: specs.map { .init(label: $0.label, plugin: $0.plugin, config: $0.configJSON) })
        do { try process.send(Array(try JSONEncoder().encode(setup))) } catch {
            throw PolicyError.worker("cannot send the setup: \(error)")
        }
        guard case .line(let line) = process.readLine(deadline: monotonicNow() + Self.setupTimeout) else {
            let how = process.kill()
            throw PolicyError.worker("no setup reply from \(command.joined(separator: " ")) (worker \(how))")
        }
        guard let reply = try? JSONDecoder().decode(WorkerMessage.SetupReply.self, from: Data(line)), reply.steps.count == specs.count
        else { throw PolicyError.worker("malformed setup reply: \(String(decoding: line.prefix(200), as: UTF8.self))") }
        let results = reply.steps
        var errors: [PolicyError] = []
        var hashes: [String: String] = [:]
        func hash(_ path: String) -> String? {
            if let known = hashes[path] { return known }
            let value = try? SHA256.hex(ofFileAt: path)
            hashes[path] = value
            return value
        }
        for (index, result) in results.enumerated() {
            if result.ok {
                steps[index] = StepInfo(
                    plugin: specs[index].plugin, id: result.id, version: result.version,
                    path: result.path, sha256: result.path.flatMap(hash))
            } else {
                let message = result.error ?? "unknown error"
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

    func run(_ chain: [Int], request: String, budget: UInt64, continueOnFailure: Bool, failClosed: Set<Int>) -> [StepResult] {
        dispatchPrecondition(condition: .onQueue(queue))
        var results: [StepResult] = []
        var remaining = chain[...]
        var deadline: UInt64?
        while let first = remaining.first {
            if worker == nil {
                let now = monotonicNow()
                var failure: String?
                if now < notBefore {
                    failure = "policy worker is restarting (backoff, next start in \(formatMicros(Double(notBefore - now) / 1000)))"
                } else {
                    do { _ = try startWorker() } catch {
                        workerFailed("\(error)")
                        failure = "\(error)"
                    }
                }
                // Starting the worker does not count against the plugins' deadline.
                if let started = deadline { deadline = started + (monotonicNow() - now) }
                if let failure {
                    let outcome = StepOutcome.failure(.unavailable, failure)
                    results.append(StepResult(index: first, outcome: outcome, micros: 0))
                    remaining.removeFirst()
                    if outcome.stopsChain(continueOnFailure: continueOnFailure && !failClosed.contains(first)) { break }
                    continue
                }
            }
            guard let worker else { break }
            let now = monotonicNow()
            let end = deadline ?? now + budget
            deadline = end
            guard now < end else {
                results.append(StepResult(index: first, outcome: deadlinePassed(budget), micros: 0))
                break
            }
            let (batch, crashed) = send(
                Array(remaining), request: request, to: worker, deadline: end, continueOnFailure: continueOnFailure, failClosed: failClosed)
            results += batch
            remaining = remaining.dropFirst(batch.count)
            // After a crash (the worker is gone) the chain may go on with a new worker.
            guard crashed, let last = batch.last,
                !last.outcome.stopsChain(continueOnFailure: continueOnFailure && !failClosed.contains(last.index))
            else { break }
        }
        return results
    }

    /// Sends one chain to the worker and reads a result line per step until the worker says it is
    /// done. Returns the results and whether the worker died (crash: EOF on its pipe).
    private func send(
        _ chain: [Int], request: String, to worker: WorkerProcess, deadline: UInt64, continueOnFailure: Bool, failClosed: Set<Int>
    ) -> ([StepResult], crashed: Bool) {
        sequence += 1
        let message = WorkerMessage.Chain(seq: Int(sequence), steps: chain, continueOnFailure: continueOnFailure,
                                          failClosed: chain.filter(failClosed.contains), request: request)

        var results: [StepResult] = []
        let sent = monotonicNow()
        var lastAnswer = sent
        func inProgress() -> Int { chain[min(results.count, chain.count - 1)] }
        do { try worker.send(message.encoded()) } catch {
            let how = worker.reap()
            workerFailed("worker \(how)")
            return ([StepResult(index: chain[0], outcome: .failure(.crash, "policy worker \(how) (\(error))"), micros: 0)], true)
        }
        while true {
            switch worker.readLine(deadline: deadline) {
            case .line(let line):
                let reply = line.withUnsafeBufferPointer { try? WorkerMessage.StepReply.decode($0) }
                // The worker runs untrusted code: accept only the answer for the step in progress.
                guard let reply, reply.seq == Int(sequence), reply.step == inProgress(), results.count < chain.count else {
                    worker.kill()
                    workerFailed("malformed reply")
                    results.append(StepResult(
                        index: inProgress(),
                        outcome: .failure(.error, "malformed reply from the policy worker: \(String(decoding: line.prefix(200), as: UTF8.self))"),
                        micros: 0))
                    return (results, true)
                }
                consecutiveFailures = 0
                lastAnswer = monotonicNow()
                let outcome: StepOutcome = reply.verdict.map { .verdict($0) } ?? .failure(.error, reply.error ?? "the worker reported an error")
                results.append(StepResult(index: reply.step, outcome: outcome, micros: reply.micros))
                if reply.done || results.count == chain.count { return (results, false) }
            case .timeout:
                let how = worker.kill()
                workerFailed("hung past the deadline")
                results.append(StepResult(
                    index: inProgress(), outcome: .failure(.timeout, "no answer within the decision deadline; policy worker \(how)"),
                    micros: Double(monotonicNow() - lastAnswer) / 1000))
                return (results, false)
            case .overlong:
                let how = worker.kill()
                workerFailed("reply line over \(WorkerProcess.maximumLineLength) bytes")
                results.append(StepResult(
                    index: inProgress(),
                    outcome: .failure(.error, "the policy worker answered with a line over \(WorkerProcess.maximumLineLength) bytes; worker \(how)"),
                    micros: Double(monotonicNow() - lastAnswer) / 1000))
                return (results, true)
            case .endOfFile:
                let how = worker.reap()
                workerFailed("worker \(how)")
                results.append(StepResult(
                    index: inProgress(), outcome: .failure(.crash, "policy worker \(how)"),
                    micros: Double(monotonicNow() - lastAnswer) / 1000))
                return (results, true)
            }
        }
    }

    /// Forgets the dead worker and schedules its restart with backoff. On `queue`.
    private func workerFailed(_ why: String) {
        worker = nil
        consecutiveFailures += 1
        let delayMs = consecutiveFailures <= 1 ? 0 : min(backoffMs << min(consecutiveFailures - 2, 10), max(5_000, backoffMs))
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
