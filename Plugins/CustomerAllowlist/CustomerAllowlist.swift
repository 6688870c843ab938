import PolicyKit

/// Accepts customers whose attribute is in a list, refuses the others.
///
/// Configuration: `{"attribute": "tier", "values": ["gold", "platinum"], "onMatch": "accept",
/// "otherwise": "refuse", "caseSensitive": false}`. Without `attribute` the customer id is matched.
public struct CustomerAllowlist: PolicyPlugin {
    public struct Configuration: Decodable, Sendable {
        var attribute: String?
        var values: [String]
        var onMatch: VerdictKind?
        var otherwise: VerdictKind?
        var caseSensitive: Bool?
    }

    static let metadata = PluginMetadata(
        id: "com.ctlive.policy.customer-allowlist", name: "CustomerAllowlist", version: "1.0.0",
        description: "Accepts customers whose attribute (or id) is in an allow-list, refuses the others.",
        license: "Apache-2.0")

    let attribute: String?
    let values: Set<String>
    let onMatch: VerdictKind
    let otherwise: VerdictKind
    let caseSensitive: Bool

    public init(configuration: Configuration) throws {
        guard !configuration.values.isEmpty else { throw PluginConfigurationError("'values' is empty") }
        if let attribute = configuration.attribute, attribute.isEmpty { throw PluginConfigurationError("'attribute' is empty") }
        attribute = configuration.attribute
        caseSensitive = configuration.caseSensitive ?? false
        values = Set(configuration.values.map { configuration.caseSensitive ?? false ? $0 : $0.lowercased() })
        onMatch = configuration.onMatch ?? .accept
        otherwise = configuration.otherwise ?? .refuse
    }

    public func decide(_ request: DecisionContext) -> Verdict {
        let label = attribute.map { "customer \($0)" } ?? "customer id"
        guard let value = attribute.map({ request.customer.attributes[$0] }) ?? request.customer.id else {
            return Verdict(otherwise, "\(label) is not set")
        }
        if values.contains(caseSensitive ? value : value.lowercased()) {
            return Verdict(onMatch, "\(label) '\(value)' is on the allow-list")
        }
        return Verdict(otherwise, "\(label) '\(value)' is not on the allow-list")
    }
}

@_cdecl("ctlive_policy_plugin_entry")
public func ctlivePolicyPluginEntry() -> UnsafeRawPointer {
    PolicyKit.export(CustomerAllowlist.self, CustomerAllowlist.metadata)
}
