/// What a plugin can say about a request.
public enum VerdictKind: String, Codable, Sendable, CaseIterable {
    /// Accept the upgrade.
    case accept
    /// Refuse the upgrade.
    case refuse
    /// No opinion: the next plugin in the chain decides.
    case abstain

    /// The ABI value (`ctlive_policy_verdict`).
    public var abiValue: Int32 {
        switch self {
        case .abstain: 0
        case .accept: 1
        case .refuse: 2
        }
    }

    /// The kind for an ABI value, nil when out of range.
    public init?(abiValue: Int32) {
        switch abiValue {
        case 0: self = .abstain
        case 1: self = .accept
        case 2: self = .refuse
        default: return nil
        }
    }
}

/// A plugin's answer: a kind and a human-readable reason (it goes to the audit and to the agent).
public struct Verdict: Sendable, Equatable, CustomStringConvertible {
    public var kind: VerdictKind
    public var reason: String

    public init(_ kind: VerdictKind, _ reason: String) {
        self.kind = kind
        self.reason = reason
    }

    /// Accept, because `reason`.
    public static func accept(_ reason: String) -> Verdict { Verdict(.accept, reason) }
    /// Refuse, because `reason`.
    public static func refuse(_ reason: String) -> Verdict { Verdict(.refuse, reason) }
    /// Abstain (let the next plugin decide), because `reason`.
    public static func abstain(_ reason: String) -> Verdict { Verdict(.abstain, reason) }

    public var description: String { "\(kind.rawValue): \(reason)" }
}
