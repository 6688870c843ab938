import Foundation
import PolicyKit

/// Accepts inside weekly opening windows and refuses outside them and on holidays.
///
/// The clock is the request's own `time.utc` (the host stamps it), so tests inject time by
/// writing the request. Configuration:
/// ```json
/// { "timeZone": "Europe/Paris",
///   "windows": [ { "days": ["mon","tue","wed","thu","fri"], "from": "09:00", "to": "17:00" } ],
///   "holidays": ["2026-12-25"], "inside": "accept", "outside": "refuse" }
/// ```
/// `timeZone` defaults to the agent's, else UTC. A window whose `to` is before its `from` runs
/// overnight into the next day. `inside` / `outside` choose the verdicts (defaults: accept / refuse).
public struct BusinessHours: PolicyPlugin {
    public struct Window: Decodable, Sendable {
        public var days: [Weekday]
        public var from: TimeOfDay
        public var to: TimeOfDay

        /// Whether the wall-clock moment `local` falls in the window.
        func contains(_ local: LocalTime) -> Bool {
            let t = local.timeOfDay
            if from < to { return days.contains(local.weekday) && from <= t && t < to }
            return (days.contains(local.weekday) && t >= from) || (days.contains(local.weekday.previous) && t < to)
        }
    }

    public struct Configuration: Decodable, Sendable {
        var timeZone: String?
        var windows: [Window]
        var holidays: [String]?
        var inside: VerdictKind?
        var outside: VerdictKind?
    }

    static let metadata = PluginMetadata(
        id: "com.ctlive.policy.business-hours", name: "BusinessHours", version: "1.0.0",
        description: "Accepts during weekly business hours in a time zone, refuses outside them and on holidays.",
        license: "Apache-2.0")

    let timeZone: TimeZone?
    let windows: [Window]
    let holidays: Set<String>
    let inside: VerdictKind
    let outside: VerdictKind

    public init(configuration: Configuration) throws {
        timeZone = try configuration.timeZone.map(TimeZone.named)
        guard !configuration.windows.isEmpty else { throw PluginConfigurationError("'windows' is empty") }
        for (i, window) in configuration.windows.enumerated() {
            if window.days.isEmpty { throw PluginConfigurationError("windows[\(i)].days is empty") }
            if window.from == window.to { throw PluginConfigurationError("windows[\(i)] is empty (from == to)") }
        }
        windows = configuration.windows
        for day in configuration.holidays ?? [] where !Self.isDate(day) {
            throw PluginConfigurationError("holiday '\(day)' is not a date YYYY-MM-DD")
        }
        holidays = Set(configuration.holidays ?? [])
        inside = configuration.inside ?? .accept
        outside = configuration.outside ?? .refuse
    }

    public func decide(_ request: DecisionContext) -> Verdict {
        guard let now = request.time.date else { return .abstain("the request's time '\(request.time.utc)' is not ISO 8601") }
        let zone = timeZone ?? request.agent.timeZone.flatMap(TimeZone.init(identifier:)) ?? TimeZone(identifier: "UTC")!
        let local = LocalTime(now, in: zone)
        let when = "\(local.weekday.rawValue) \(local.date) \(local.timeOfDay) \(zone.identifier)"
        if holidays.contains(local.date) { return Verdict(outside, "holiday (\(when))") }
        if windows.contains(where: { $0.contains(local) }) { return Verdict(inside, "inside business hours (\(when))") }
        return Verdict(outside, "outside business hours (\(when))")
    }

    static func isDate(_ text: String) -> Bool {
        let parts = text.split(separator: "-")
        return parts.count == 3 && parts[0].count == 4 && parts[1].count == 2 && parts[2].count == 2
            && parts.allSatisfy { $0.allSatisfy(\.isNumber) }
    }
}

@_cdecl("ctlive_policy_plugin_entry")
public func ctlivePolicyPluginEntry() -> UnsafeRawPointer { PolicyKit.export(BusinessHours.self, BusinessHours.metadata) }
