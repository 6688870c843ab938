import PolicyKit

/// Refuses a video request when the agent already has the maximum number of video sessions.
///
/// Configuration: `{"maxVideoSessions": 2}`. Otherwise abstains (audio-only requests too).
public struct CapacityLimit: PolicyPlugin {
    public struct Configuration: Decodable, Sendable {
        var maxVideoSessions: Int
    }

    static let metadata = PluginMetadata(
        id: "com.ctlive.policy.capacity-limit", name: "CapacityLimit", version: "1.0.0",
        description: "Refuses video when the agent already has the maximum number of concurrent video sessions.",
        license: "Apache-2.0")

    let maximum: Int

    public init(configuration: Configuration) throws {
        guard configuration.maxVideoSessions >= 0 else {
            throw PluginConfigurationError("maxVideoSessions must be >= 0, got \(configuration.maxVideoSessions)")
        }
        maximum = configuration.maxVideoSessions
    }

    public func decide(_ request: DecisionContext) -> Verdict {
        let active = request.agent.activeVideoSessions
        guard request.request.useVideo else { return .abstain("no video requested") }
        if active >= maximum {
            return .refuse("agent \(request.agent.id) has \(active) video sessions (maximum \(maximum))")
        }
        return .abstain("agent \(request.agent.id) has \(active) of \(maximum) video sessions")
    }
}

@_cdecl("ctlive_policy_plugin_entry")
public func ctlivePolicyPluginEntry() -> UnsafeRawPointer { PolicyKit.export(CapacityLimit.self, CapacityLimit.metadata) }
