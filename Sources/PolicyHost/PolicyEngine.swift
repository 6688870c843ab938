import ChildProcess
import Dispatch
import Foundation
import Timestamps
import Logging
import PolicyKit
import Synchronization

/// The answer for one request, with its audit record.
public struct Decision: Codable, Sendable {
    public var answer: FinalAnswer
    /// Why, in words an agent or a reviewer can read.
    public var reason: String
    public var audit: AuditRecord
    /// The chain that answered says the room must be recorded (`"recordingRequired": true`).
    public var recordingRequired = false
}

/// Where the build puts plugin libraries: the directory of the running executable (for instance
/// `.build/debug`), preceded by the directories in `CTLIVE_PLUGIN_PATH` (colon-separated) when set.
public func defaultPluginDirectories() -> [String] {
    var directories: [String] = []
    if let path = ProcessInfo.processInfo.environment["CTLIVE_PLUGIN_PATH"] {
        directories += path.split(separator: ":").map(String.init)
    }
    if let executable = currentExecutablePath() {
        directories.append((executable as NSString).deletingLastPathComponent)
    }
    return directories
}

/// Decides upgrade requests on agents' behalf with the plugin chains of a policy file.
///
/// Build one per policy file; call ``decide(_:)`` for each request addressed to an agent the bot
/// answers for, and ``reload()`` on SIGHUP. Decisions under way when a reload happens finish with
/// the chain they started with.
public final class PolicyEngine: Sendable {
    /// Options beyond the policy file.
    public struct Options: Sendable {
        /// The worker's command line for `isolation: process` (executable first). Default: see
        /// ``PolicyEngine/workerCommand(_:)``.
        public var workerCommand: [String]?
        /// The clock used for the audit's `time` (plugins see the time the request carries).
        public var clock: @Sendable () -> Date

        /// After consecutive worker failures, the restart waits this long, doubling each time up to
        /// 5 s (or this value, when larger). The first restart after a failure is immediate.
        public var restartBackoffMs: Int

        public init(
            workerCommand: [String]? = nil, clock: @escaping @Sendable () -> Date = { Date() }, restartBackoffMs: Int = 100
        ) {
            self.workerCommand = workerCommand
            self.clock = clock
            self.restartBackoffMs = restartBackoffMs
        }
    }

    public let policyPath: String
    public let pluginDirectories: [String]
    private let logger: Logger
    private let audit: AuditLog?
    private let options: Options
    private let state: Mutex<EngineState>
    /// Decision ids are `<64 random bits of this engine>-<sequence>`: unique, and cheaper than a UUID each.
    private let idPrefix = String(UInt64.random(in: .min ... .max), radix: 16).leftPadded(to: 16)
    private let sequence = Atomic<UInt64>(0)

    /// Loads the policy at `policyPath`, the plugins it names (from `pluginDirectories`, first
    /// match wins) and, under process isolation, starts the worker. Throws when the policy is
    /// invalid or a plugin it names cannot be loaded or created (every such problem is listed).
    public convenience init(policyPath: String, pluginDirectories: [String], auditLogPath: String?, logger: Logger) throws {
        try self.init(
            policyPath: policyPath, pluginDirectories: pluginDirectories, auditLogPath: auditLogPath, logger: logger,
            options: Options())
    }

    /// As the other initializer, with ``Options``.
    public init(
        policyPath: String, pluginDirectories: [String], auditLogPath: String?, logger: Logger, options: Options
    ) throws {
        self.policyPath = policyPath
        self.pluginDirectories = pluginDirectories
        self.logger = logger
        self.options = options
        audit = try auditLogPath.map { try AuditLog(path: $0) }
        state = Mutex(try EngineState(
            policyPath: policyPath, directories: pluginDirectories, options: options, logger: logger))
        logger.info("policy loaded", metadata: ["policy": "\(policyPath)", "agents": "\(delegatedAgents)"])
    }

    /// The agents named under `agents` in the policy (sorted).
    public var delegatedAgents: [String] { state.withLock { $0 }.policy.agents?.keys.sorted() ?? [] }

    /// The policy in force.
    public var policy: PolicyFile { state.withLock { $0 }.policy }

    /// Reads the policy file again and loads the plugins it names; decisions that follow use it.
    /// On error the previous policy stays in force.
    public func reload() throws {
        let next: EngineState
        do {
            next = try EngineState(policyPath: policyPath, directories: pluginDirectories, options: options, logger: logger)
        } catch {
            logger.error("policy reload failed; keeping the previous policy", metadata: ["error": "\(error)"])
            throw error
        }
        state.withLock { $0 = next }
        logger.info("policy reloaded", metadata: ["policy": "\(policyPath)", "agents": "\(delegatedAgents)"])
    }

    /// Decides one request. Never throws: plugin errors, crashes and timeouts become the fail-mode
    /// answer, recorded in the audit (the returned record is also appended to the audit log).
    public func decide(_ context: DecisionContext) async -> Decision {
        let current = state.withLock { $0 }
        let received = monotonicNow()
        let number = sequence.add(1, ordering: .relaxed).newValue
        let decisionID = "\(idPrefix)-\(String(number).leftPadded(to: 6))"
        let time = ISO8601.utcMilliseconds(options.clock())
        let record = await current.runner.perform {
            current.evaluate(context, decisionID: decisionID, time: time, received: received)
        }
        if let audit {
            do { try audit.append(record) } catch {
                logger.error("cannot write the audit record", metadata: ["decision": "\(decisionID)", "error": "\(error)"])
            }
        }
        if record.fallbackUsed {
            logger.warning("policy fallback", metadata: ["decision": "\(decisionID)", "cause": "\(record.fallbackCause ?? "")"])
        }
        let required = current.policy.chainLabel(for: context).flatMap { label in
            current.policy.labelledChains.first { $0.label == label }?.chain.recordingRequired
        } ?? false
        return Decision(answer: record.answer, reason: record.reason, audit: record, recordingRequired: required)
    }

    /// Where the build puts plugin libraries (the same as the free function ``defaultPluginDirectories()``).
    public static func defaultPluginDirectories() -> [String] { PolicyHost.defaultPluginDirectories() }

    /// The hidden `ctlive` subcommand that serves as the policy worker.
    public static let workerSubcommand = "policy-worker"

    /// The command that starts a policy worker: `explicit` when given; else `ctlive policy-worker`
    /// with the `ctlive` executable at `$CTLIVE_POLICY_WORKER`, else the running executable when it is
    /// `ctlive` (it is its own worker, as browsers are their own helper processes), else `ctlive` next
    /// to the running executable (a test bundle in the build folder), else on `PATH`.
    public static func workerCommand(_ explicit: [String]? = nil) -> [String]? {
        if let explicit, !explicit.isEmpty { return explicit }
        let fm = FileManager.default
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["CTLIVE_POLICY_WORKER"], !env.isEmpty { candidates.append(env) }
        if let executable = currentExecutablePath() {
            if (executable as NSString).lastPathComponent == "ctlive" { candidates.append(executable) }
            candidates.append(((executable as NSString).deletingLastPathComponent as NSString).appendingPathComponent("ctlive"))
        }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            candidates.append("\(directory)/ctlive")
        }
        return candidates.first { fm.isExecutableFile(atPath: $0) }.map { [$0, workerSubcommand] }
    }
}

/// One policy in force: the file, its chains and the runner holding the plugin instances.
final class EngineState: Sendable {
    let policy: PolicyFile
    let policyPath: String
    let chains: [String: [Int]]
    let runner: any StepRunner
    /// Steps marked `failClosed`.
    let failClosed: Set<Int>

    init(policyPath: String, directories: [String], options: PolicyEngine.Options, logger: Logger) throws {
        let policy = try PolicyFile.load(path: policyPath)
        if let data = FileManager.default.contents(atPath: policyPath) {
            for key in PolicyFile.unknownKeys(in: data) {
                logger.warning("unknown key in the policy file (ignored)", metadata: ["policy": "\(policyPath)", "key": "\(key)"])
            }
        }
        var specs: [StepSpec] = []
        var chains: [String: [Int]] = [:]
        for (label, chain) in policy.labelledChains {
            chains[label] = chain.chain.enumerated().map { i, step in
                specs.append(StepSpec(
                    label: "\(label).chain[\(i)]", plugin: step.plugin,
                    configJSON: step.config.map { $0 == .null ? "{}" : $0.jsonText } ?? "{}", failClosed: step.failClosed == true))
                return specs.count - 1
            }
        }
        switch policy.effectiveIsolation {
        case .none:
            runner = try InProcessRunner(specs: specs, directories: directories, logger: logger)
        case .process:
            guard let command = PolicyEngine.workerCommand(options.workerCommand) else {
                throw PolicyError.worker("cannot find the ctlive executable to run plugins in (set CTLIVE_POLICY_WORKER to its path)")
            }
            runner = try WorkerRunner(
                specs: specs, directories: directories, command: command, backoffMs: options.restartBackoffMs, logger: logger)
        }
        self.policy = policy
        self.policyPath = policyPath
        self.chains = chains
        failClosed = Set(specs.indices.filter { specs[$0].failClosed })
    }

    /// Runs the chain for `context`: the first plugin that does not abstain decides; a failure
    /// applies the fail mode; when nobody decides, the all-abstain rule applies.
    ///
    /// The deadline bounds the time plugins take, from the start of the chain; time spent waiting
    /// for the worker's queue or (re)starting the worker is not counted (the audit's total latency
    /// shows it).
    func evaluate(_ context: DecisionContext, decisionID: String, time: String, received: UInt64) -> AuditRecord {
        let deadlineMs = policy.effectiveDeadlineMs
        let failMode = policy.effectiveFailMode
        let label = policy.chainLabel(for: context)
        let chain = label.flatMap { chains[$0] } ?? []
        let results =
            chain.isEmpty
            ? []
            : runner.run(
                chain, request: context.jsonText, budget: UInt64(deadlineMs) * 1_000_000, continueOnFailure: failMode == .open,
                failClosed: failClosed)

        var consulted: [PluginConsultation] = []
        var answer: FinalAnswer?
        var reason = ""
        var fallbackCauses: [String] = []

        for result in results {
            let info = runner.steps[result.index]
            let name = info.plugin
            var entry = PluginConsultation(
                plugin: info.plugin, id: info.id, version: info.version, path: info.path, sha256: info.sha256,
                verdict: "", reason: "", latencyMicroseconds: (result.micros * 10).rounded() / 10)
            switch result.outcome {
            case .verdict(let verdict):
                entry.verdict = verdict.kind.rawValue
                entry.reason = verdict.reason
                switch verdict.kind {
                case .accept: answer = .accept
                case .refuse: answer = .refuse
                case .abstain: break
                }
                if answer != nil { reason = "\(name): \(verdict.reason)" }
            case .failure(let kind, let message):
                entry.verdict = kind.rawValue
                entry.reason = message
                let what = ["error": "failed", "crash": "crashed", "timeout": "timed out"][kind.rawValue] ?? "was unavailable"
                let cause = "\(name) \(what): \(message)"
                fallbackCauses.append(cause)
                if failMode == .closed {
                    answer = .refuse
                    reason = "refused (policy fails closed): \(cause)"
                } else if failClosed.contains(result.index) {
                    answer = .refuse
                    reason = "refused (\(name) is marked failClosed, a control no failure may bypass): \(cause)"
                }
            }
            consulted.append(entry)
            if answer != nil { break }
        }

        if answer == nil {
            let why =
                label == nil
                ? "no chain applies to agent \(context.agent.id)"
                : chain.isEmpty ? "the chain \(label!) is empty" : "no plugin decided"
            let failures = fallbackCauses.isEmpty ? "" : " (after failures, policy fails open: \(fallbackCauses.joined(separator: "; ")))"
            switch (policy.effectiveWhenAllAbstain, context.agentConnected) {
            case (.askAgent, true):
                answer = .askAgent
                reason = "\(why)\(failures); asking agent \(context.agent.id)"
            case (.askAgent, false):
                answer = .refuse
                reason = "\(why)\(failures) and agent \(context.agent.id) is not connected"
            case (.refuse, _):
                answer = .refuse
                reason = "\(why)\(failures); the policy refuses when every plugin abstains"
            }
        }

        return AuditRecord(
            decisionID: decisionID, time: time, policyFile: policyPath, chain: label ?? "none",
            isolation: policy.effectiveIsolation.rawValue, failMode: failMode.rawValue, deadlineMs: deadlineMs,
            request: context, plugins: consulted, answer: answer!, reason: reason, fallbackUsed: !fallbackCauses.isEmpty,
            fallbackCause: fallbackCauses.isEmpty ? nil : fallbackCauses.joined(separator: "; "),
            latencyMicroseconds: (Double(monotonicNow() - received) / 100).rounded() / 10)
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
