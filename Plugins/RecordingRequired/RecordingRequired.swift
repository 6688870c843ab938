import PolicyKit

/// The compliance fail-closed rule: refuses when no recorder is idle to record the session.
///
/// Configuration (optional): `{"minimumIdle": 1}`. Otherwise abstains.
public struct RecordingRequired: PolicyPlugin {
    public struct Configuration: Decodable, Sendable {
        var minimumIdle: Int?
    }

    static let metadata = PluginMetadata(
        id: "com.ctlive.policy.recording-required", name: "RecordingRequired", version: "1.0.0",
        description: "Refuses when no recorder is idle to record the session (compliance fail-closed rule).",
        license: "Apache-2.0")

    let minimumIdle: Int

    public init(configuration: Configuration) throws {
        minimumIdle = configuration.minimumIdle ?? 1
        guard minimumIdle >= 1 else { throw PluginConfigurationError("minimumIdle must be >= 1, got \(minimumIdle)") }
    }

    public func decide(_ request: DecisionContext) -> Verdict {
        let idle = request.recorders.idle
        if idle < minimumIdle { return .refuse("recording required: \(idle) recorder(s) idle, \(minimumIdle) needed") }
        return .abstain("\(idle) recorder(s) idle")
    }
}

@_cdecl("ctlive_policy_plugin_entry")
public func ctlivePolicyPluginEntry() -> UnsafeRawPointer {
    PolicyKit.export(RecordingRequired.self, RecordingRequired.metadata)
}
