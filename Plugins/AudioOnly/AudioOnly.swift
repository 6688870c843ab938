import PolicyKit

/// Refuses requests that ask for video; audio-only requests get `audio` (default: abstain).
///
/// Configuration (optional): `{"audio": "accept"}`.
public struct AudioOnly: PolicyPlugin {
    public struct Configuration: Decodable, Sendable {
        var audio: VerdictKind?
    }

    static let metadata = PluginMetadata(
        id: "com.ctlive.policy.audio-only", name: "AudioOnly", version: "1.0.0",
        description: "Refuses requests that ask for video.", license: "Apache-2.0")

    let audio: VerdictKind

    public init(configuration: Configuration) {
        audio = configuration.audio ?? .abstain
    }

    public func decide(_ request: DecisionContext) -> Verdict {
        if request.request.useVideo { return .refuse("video is not allowed, audio only") }
        return Verdict(audio, "audio-only request")
    }
}

@_cdecl("ctlive_policy_plugin_entry")
public func ctlivePolicyPluginEntry() -> UnsafeRawPointer { PolicyKit.export(AudioOnly.self, AudioOnly.metadata) }
