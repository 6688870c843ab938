import PolicyKit

/// Accepts every request. The simplest plugin, and the usual last link of a chain.
///
/// Configuration (optional): `{"reason": "text"}`.
public struct AcceptAll: PolicyPlugin {
    public struct Configuration: Decodable, Sendable {
        var reason: String?
    }

    static let metadata = PluginMetadata(
        id: "com.ctlive.policy.accept-all", name: "AcceptAll", version: "1.0.0",
        description: "Accepts every upgrade request.", license: "Apache-2.0")

    let reason: String

    public init(configuration: Configuration) {
        reason = configuration.reason ?? "accept-all policy"
    }

    public func decide(_ request: DecisionContext) -> Verdict { .accept(reason) }
}

@_cdecl("ctlive_policy_plugin_entry")
public func ctlivePolicyPluginEntry() -> UnsafeRawPointer { PolicyKit.export(AcceptAll.self, AcceptAll.metadata) }
