import Foundation
import PolicyKit

/// The policy file (JSON): which chain of plugins answers for which agent, and how.
///
/// ```json
/// { "agents":  { "A1": { "chain": [ { "plugin": "BusinessHours", "config": { ... } } ] } },
///   "queues":  { "vip": { "chain": [ ... ] } },
///   "default": { "chain": [ { "plugin": "AcceptAll" } ] },
///   "deadlineMs": 100, "isolation": "process", "failMode": "closed", "whenAllAbstain": "askAgent" }
/// ```
/// The chain is picked from `agents[agent id]`, else `queues[contact's queue]`, else `default`.
public struct PolicyFile: Codable, Sendable, Equatable {
    /// One link of a chain: a plugin (id, library name or path) and its configuration.
    public struct Step: Codable, Sendable, Equatable {
        public var plugin: String
        public var config: JSON?
        /// A compliance control (RecordingRequired, say): when this step fails (error, crash,
        /// timeout), the request is refused even under `failMode: open`.
        public var failClosed: Bool?
        public init(plugin: String, config: JSON? = nil, failClosed: Bool? = nil) {
            self.plugin = plugin
            self.config = config
            self.failClosed = failClosed
        }
    }

    /// An ordered chain: the first plugin that does not abstain decides.
    public struct Chain: Codable, Sendable, Equatable {
        public var chain: [Step]
        /// `true`: a room this chain's answer starts must be recorded (the hub ends it when no recorder
        /// writes it for its grace).
        public var recordingRequired: Bool?
        public init(chain: [Step], recordingRequired: Bool? = nil) {
            self.chain = chain
            self.recordingRequired = recordingRequired
        }
    }

    /// Where plugins run.
    public enum Isolation: String, Codable, Sendable {
        /// In a worker child process (default): a crash or hang costs one request, never the host.
        case process
        /// In the host process: for trusted plugins only.
        case none
    }

    /// What a plugin error, crash or timeout means.
    public enum FailMode: String, Codable, Sendable {
        /// Refuse the request (default).
        case closed
        /// Treat the failed plugin as abstaining and go on with the chain.
        case open
    }

    /// What happens when every plugin abstains (or the chain is empty).
    public enum AllAbstain: String, Codable, Sendable {
        /// Ask the human agent when connected, otherwise refuse with a reason (default).
        case askAgent
        /// Refuse.
        case refuse
    }

    public var agents: [String: Chain]?
    public var queues: [String: Chain]?
    public var `default`: Chain?
    /// Decision deadline in milliseconds (default 100).
    public var deadlineMs: Int?
    public var isolation: Isolation?
    public var failMode: FailMode?
    public var whenAllAbstain: AllAbstain?

    public init(
        agents: [String: Chain]? = nil, queues: [String: Chain]? = nil, default: Chain? = nil, deadlineMs: Int? = nil,
        isolation: Isolation? = nil, failMode: FailMode? = nil, whenAllAbstain: AllAbstain? = nil
    ) {
        self.agents = agents
        self.queues = queues
        self.default = `default`
        self.deadlineMs = deadlineMs
        self.isolation = isolation
        self.failMode = failMode
        self.whenAllAbstain = whenAllAbstain
    }

    public var effectiveDeadlineMs: Int { deadlineMs ?? 100 }
    public var effectiveIsolation: Isolation { isolation ?? .process }
    public var effectiveFailMode: FailMode { failMode ?? .closed }
    public var effectiveWhenAllAbstain: AllAbstain { whenAllAbstain ?? .askAgent }

    /// Parses and checks a policy file's text.
    public static func parse(_ data: Data, path: String = "policy") throws -> PolicyFile {
        let policy: PolicyFile
        do { policy = try JSONDecoder().decode(PolicyFile.self, from: data) } catch {
            throw PolicyError.invalidPolicy(path: path, message: describe(error))
        }
        if let ms = policy.deadlineMs, !(1...60_000).contains(ms) {
            throw PolicyError.invalidPolicy(path: path, message: "deadlineMs must be between 1 and 60000, got \(ms)")
        }
        for (label, chain) in policy.labelledChains {
            for (i, step) in chain.chain.enumerated() {
                if step.plugin.isEmpty {
                    throw PolicyError.invalidPolicy(path: path, message: "\(label).chain[\(i)].plugin is empty")
                }
                if let config = step.config, case .object = config {} else if step.config != nil, step.config != .null {
                    throw PolicyError.invalidPolicy(path: path, message: "\(label).chain[\(i)].config must be an object")
                }
            }
        }
        return policy
    }

    /// Keys the policy format does not know (likely typos), as paths such as `agents.A1.chian`.
    /// They are ignored; the engine logs them as warnings.
    public static func unknownKeys(in data: Data) -> [String] {
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [] }
        let top: Set = ["agents", "queues", "default", "deadlineMs", "isolation", "failMode", "whenAllAbstain"]
        var unknown = root.keys.filter { !top.contains($0) }.sorted()
        func chain(_ value: Any?, _ label: String) {
            guard let object = value as? [String: Any] else { return }
            unknown += object.keys.filter { $0 != "chain" && $0 != "recordingRequired" }.sorted().map { "\(label).\($0)" }
            for (i, step) in (object["chain"] as? [Any] ?? []).enumerated() {
                guard let step = step as? [String: Any] else { continue }
                unknown += step.keys.filter { !["plugin", "config", "failClosed"].contains($0) }.sorted().map { "\(label).chain[\(i)].\($0)" }
            }
        }
        for group in ["agents", "queues"] {
            for (name, value) in (root[group] as? [String: Any] ?? [:]).sorted(by: { $0.key < $1.key }) {
                chain(value, "\(group).\(name)")
            }
        }
        chain(root["default"], "default")
        return unknown
    }

    /// Reads and checks the policy file at `path`.
    public static func load(path: String) throws -> PolicyFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PolicyError.invalidPolicy(path: path, message: "cannot read the file")
        }
        return try parse(data, path: path)
    }

    /// Every chain with its label (`agents.A1`, `queues.vip`, `default`), in a stable order.
    public var labelledChains: [(label: String, chain: Chain)] {
        var out: [(String, Chain)] = []
        for (id, chain) in (agents ?? [:]).sorted(by: { $0.key < $1.key }) { out.append(("agents.\(id)", chain)) }
        for (name, chain) in (queues ?? [:]).sorted(by: { $0.key < $1.key }) { out.append(("queues.\(name)", chain)) }
        if let chain = `default` { out.append(("default", chain)) }
        return out
    }

    /// The label of the chain that answers for `context`, or nil when none applies.
    public func chainLabel(for context: DecisionContext) -> String? {
        if agents?[context.agent.id] != nil { return "agents.\(context.agent.id)" }
        if let queue = context.queue, queues?[queue] != nil { return "queues.\(queue)" }
        if `default` != nil { return "default" }
        return nil
    }
}

/// Errors of the policy engine.
public enum PolicyError: Error, CustomStringConvertible, Sendable {
    /// The policy file cannot be read or is not valid.
    case invalidPolicy(path: String, message: String)
    /// No plugin file in the directories has this library name or id.
    case pluginNotFound(reference: String, directories: [String])
    /// A plugin named by the policy could not be loaded or created.
    case plugin(step: String, PluginLoadError)
    /// The worker process could not be started or set up.
    case worker(String)
    /// Several problems at once (every step that failed).
    case several([PolicyError])

    public var description: String {
        switch self {
        case .invalidPolicy(let path, let message): "\(path): invalid policy: \(message)"
        case .pluginNotFound(let reference, let directories):
            "no plugin '\(reference)' (library lib\(reference).so or plugin id) in \(directories.joined(separator: ", "))"
        case .plugin(let step, let error): "\(step): \(error)"
        case .worker(let message): "policy worker: \(message)"
        case .several(let errors): errors.map(\.description).joined(separator: "\n")
        }
    }
}
