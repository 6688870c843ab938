import Foundation
import Logging
import PolicyKit

/// The answer the agent's side gives to an upgrade request.
public enum FinalAnswer: String, Codable, Sendable {
    /// Answer `responseVideoUpgrade` positively.
    case accept
    /// Answer `responseVideoUpgrade` negatively.
    case refuse
    /// No automatic answer: the human agent decides.
    case askAgent
}

/// One plugin consulted during a decision.
public struct PluginConsultation: Codable, Sendable, Equatable {
    /// The step's `plugin` as written in the policy.
    public var plugin: String
    /// The plugin's id, version, file and file hash (nil when it could not be loaded).
    public var id: String?
    public var version: String?
    public var path: String?
    public var sha256: String?
    /// `accept`, `refuse`, `abstain`, or a failure: `error`, `timeout`, `crash`, `unavailable`.
    public var verdict: String
    public var reason: String
    /// Wall time of the call as the host saw it (including the pipe round trip under process isolation).
    public var latencyMicroseconds: Double
}

/// The record of one decision, written as one JSON line to the audit log.
public struct AuditRecord: Codable, Sendable, Equatable {
    /// `<the engine's 64 random bits in hex>-<sequence>`, unique per decision.
    public var decisionID: String
    /// ISO 8601 UTC time the decision was made.
    public var time: String
    /// The policy file in force.
    public var policyFile: String
    /// Which chain answered: `agents.A1`, `queues.vip`, `default`, or `none`.
    public var chain: String
    /// `process` or `none`.
    public var isolation: String
    /// `closed` or `open`.
    public var failMode: String
    /// The deadline the plugins had.
    public var deadlineMs: Int
    /// The decision context the plugins were given.
    public var request: DecisionContext
    /// The plugins consulted, in chain order (those after the deciding one are not consulted).
    public var plugins: [PluginConsultation]
    /// The final answer.
    public var answer: FinalAnswer
    /// Why, in words (the deciding plugin's reason, the failure, or the all-abstain rule).
    public var reason: String
    /// True when a plugin failed (error, crash, timeout, worker unavailable) and the fail mode applied.
    public var fallbackUsed: Bool
    /// Why the fallback was used.
    public var fallbackCause: String?
    /// The whole decision as the caller saw it (queueing and worker round trips included).
    public var latencyMicroseconds: Double

    /// The record as one line of compact JSON (what the audit log holds; `JSONDecoder` reads it
    /// back). Written by hand because it is on every decision's path.
    public var jsonLine: [UInt8] {
        var w = JSONWriter(capacity: 2048)
        w.raw("{"); w.key("decisionID"); w.string(decisionID)
        w.raw(","); w.key("time"); w.string(time)
        w.raw(","); w.key("policyFile"); w.string(policyFile)
        w.raw(","); w.key("chain"); w.string(chain)
        w.raw(","); w.key("isolation"); w.string(isolation)
        w.raw(","); w.key("failMode"); w.string(failMode)
        w.raw(","); w.key("deadlineMs"); w.int(deadlineMs)
        w.raw(","); w.key("request"); w.json(request.jsonText)
        w.raw(","); w.key("plugins"); w.raw("[")
        for (i, p) in plugins.enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("{"); w.key("plugin"); w.string(p.plugin)
            if let id = p.id { w.raw(","); w.key("id"); w.string(id) }
            if let version = p.version { w.raw(","); w.key("version"); w.string(version) }
            if let path = p.path { w.raw(","); w.key("path"); w.string(path) }
            if let sha = p.sha256 { w.raw(","); w.key("sha256"); w.string(sha) }
            w.raw(","); w.key("verdict"); w.string(p.verdict)
            w.raw(","); w.key("reason"); w.string(p.reason)
            w.raw(","); w.key("latencyMicroseconds"); w.double(p.latencyMicroseconds)
            w.raw("}")
        }
        w.raw("]")
        w.raw(","); w.key("answer"); w.string(answer.rawValue)
        w.raw(","); w.key("reason"); w.string(reason)
        w.raw(","); w.key("fallbackUsed"); w.bool(fallbackUsed)
        if let cause = fallbackCause { w.raw(","); w.key("fallbackCause"); w.string(cause) }
        w.raw(","); w.key("latencyMicroseconds"); w.double(latencyMicroseconds)
        w.raw("}\n")
        return w.bytes
    }
}

/// An append-only JSON-lines audit file. Owns its file descriptor.
public final class AuditLog: @unchecked Sendable {
    public let path: String
    private let fd: Int32
    private let lock = NSLock()

    /// Opens (creating, appending) the file at `path`.
    public init(path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            throw POSIXErrorWithContext(operation: "open audit log \(path)", code: errno)
        }
        self.path = path
        self.fd = fd
    }

    deinit { close(fd) }

    /// Appends one record as one line (one `write`, so lines from several threads never interleave).
    public func append(_ record: AuditRecord) throws {
        let data = record.jsonLine
        lock.lock()
        defer { lock.unlock() }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if written != data.count {
            throw POSIXErrorWithContext(operation: "write audit log \(path)", code: written < 0 ? errno : EIO)
        }
    }
}
